"""A tiny, known local corpus for end-to-end tests of the CLI and of concurrent runs: two Claude
Code sessions of two messages each, one ChatGPT conversation of two messages and one Gemini
session of two prompts. It is the demo's corpus, so the two cannot drift apart. Platform tests
build their own, richer fixtures."""

from chitty_pipelines.demo.seed import write_local_corpus

__all__ = ["write_local_corpus"]
