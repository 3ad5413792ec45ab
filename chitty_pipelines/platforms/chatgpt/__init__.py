"""The chatgpt platform."""
