"""Data: catalog, downloads, archives, splits and list files, frames, datasets and transforms."""
