"""Video: the one PyAV decoder every step uses (OpenCV only as a logged fallback), the decode
planner, frame-exact sparse reads, probing and the video index."""
