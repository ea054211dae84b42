"""Morphs: a loaded model (encode, decode, invert), latent paths, alignment, series, export."""
