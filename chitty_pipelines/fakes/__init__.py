"""Local HTTP servers speaking each platform's wire protocol (tests, benchmarks, the demo)."""
