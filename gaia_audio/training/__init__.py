"""Training: pure losses, one objective per model kind, the loop, checkpoints, DDP, previews."""
