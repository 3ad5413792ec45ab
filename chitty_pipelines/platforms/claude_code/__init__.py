"""The claude_code platform."""
