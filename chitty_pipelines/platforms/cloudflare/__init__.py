"""The cloudflare platform."""
