"""gaia-audio: learn the space of vocalizations with GAIA and morph between them."""
__version__ = "0.1.0"
