"""Demo data for Neon: the ChittyOS event store (events yesterday and today, so a first syncall
must land more than today's partition) and an evidence ledger, written into a throwaway
PostgreSQL database (``fake.postgres_server`` / ``fresh_database``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

EVIDENCE_ROWS = 4


def seed_neon(dsn: str, now: datetime, projects: Sequence[str], ledger_start: datetime) -> None:
    """Two events per project (12 h before today and just after midnight) and ``EVIDENCE_ROWS``
    exhibits a day apart from ``ledger_start``."""
    import psycopg

    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    with psycopg.connect(dsn, autocommit=True) as con:
        con.execute(
            "CREATE TABLE public.event_store (chitty_id text PRIMARY KEY, aggregate_id text, "
            'aggregate_type text, event_type text, event_data jsonb, event_hash text, "timestamp" '
            "timestamptz NOT NULL)"
        )
        for n, name in enumerate(projects):
            for k, at in enumerate((today - timedelta(hours=12), today + timedelta(minutes=1))):
                con.execute(
                    "INSERT INTO event_store VALUES (%s, %s, 'project', %s, %s, %s, %s)",
                    (
                        f"demo-ev-{n}-{k}",
                        name,
                        "created" if k == 0 else "updated",
                        json.dumps({"project": name}),
                        f"h{n}{k}",
                        at + timedelta(minutes=n),
                    ),
                )
        con.execute(
            "CREATE TABLE public.evidence_ledger (id int PRIMARY KEY, case_name text, title text, "
            "updated_at timestamptz NOT NULL)"
        )
        for i in range(EVIDENCE_ROWS):
            con.execute(
                "INSERT INTO evidence_ledger VALUES (%s, 'Demo v. Example', %s, %s)",
                (i + 1, f"Exhibit {i + 1}", ledger_start + timedelta(days=i)),
            )
