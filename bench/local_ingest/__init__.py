"""Local Claude Code ingestion benchmark: a seeded corpus generator and a runner comparing the
Dagster ingestion with ccusage (see bench/README.md)."""
