"""Drawing: figures (spectrograms, continuum strips, tile grids, embeddings), the HTML page helpers
every page is built with, and the worker process that imports matplotlib while a command imports
torch. No model and no torch here: a page or a figure is drawn from arrays and rows."""
