"""Optical flow: algorithms, the 8-bit encoding, and the per-video extraction pipeline."""
