"""The neon platform."""
