"""The PostgreSQL test harness; it lives in the package (chitty_pipelines/platforms/neon/fake.py) because
``chitty-sync demo`` starts the same throwaway server. Kept here so tests and benchmarks import it
as before."""

from chitty_pipelines.platforms.neon.fake import (
    ENV_DSN,
    PostgresUnavailable,
    fresh_database,
    postgres_server,
    with_database,
)

__all__ = ["ENV_DSN", "PostgresUnavailable", "fresh_database", "postgres_server", "with_database"]
