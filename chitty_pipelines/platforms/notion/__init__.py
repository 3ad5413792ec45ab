"""The notion platform."""
