"""Acquisition: the dataset and weight catalog, downloads, checksums, archives, unpacking
and the toy dataset."""
