"""Video: decoding (one module every step uses), keyframe tables and the video index."""
