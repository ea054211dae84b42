"""Morphs: a loaded model (encode, decode, invert), latent paths and spacing, alignment, per-pair
tuning, detail, and the series that make continua."""
