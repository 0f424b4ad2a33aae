"""Optical flow: algorithms (OpenCV, batched torch TV-L1, RAFT), the 8-bit encoding, the shared
frame loop and the per-video extraction pipeline, on CPU workers or GPUs."""
