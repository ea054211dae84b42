"""Interpolation benchmarks: the lines benchmark and its audio counterpart, harmonic stacks."""
