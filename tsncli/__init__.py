"""tsn: Temporal Segment Networks as one command-line toolkit."""

__version__ = "0.1.0"
