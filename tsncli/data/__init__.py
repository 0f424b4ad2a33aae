"""Data: what train/eval/predict load: frame-folder, in-memory and video sources, sampling,
transforms and the dataset."""
