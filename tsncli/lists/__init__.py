"""Lists: official split files, list files, list building, custom splits and video lists."""
