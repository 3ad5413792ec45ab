"""The github platform."""
