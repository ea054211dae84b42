"""Datasets: the source per data.kind, cutting recordings into units, annotations, tile caches, batch samplers,
example data."""
