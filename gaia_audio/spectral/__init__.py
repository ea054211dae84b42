"""Spectrograms: the STFT convention, the front ends (linear, mel) and their presets, tiles, metrics."""
