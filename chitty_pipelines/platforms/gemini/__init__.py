"""The gemini platform."""
