"""Registry tables for the names a user picks (backbones, flow algorithms, datasets): plain data,
torch-free and OpenCV-free, below every package that builds, fetches or reads them."""
