"""Unified tables synthesized from every platform: projects, sessions, topics (source-agnostic)."""
