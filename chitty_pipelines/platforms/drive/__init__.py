"""The drive platform."""
