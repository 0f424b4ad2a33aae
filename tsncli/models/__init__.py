"""Models: backbone registry, native BN-Inception, the TSN wrapper, checkpoint converters."""
