"""Models: backbone registry, native BN-Inception, the TSN wrapper, checkpoint I/O with typed
meta, converters and export."""
