"""Datasets: cutting recordings into units, annotations, tile caches, batch samplers, example data."""
