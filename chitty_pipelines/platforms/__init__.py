"""One folder per platform, all with the same files; registry.py lists them."""
