"""Manual topic labels: ``chitty-sync topic set SESSION_KEY TOPIC`` / ``topic unset SESSION_KEY``.

A label lives in ``ops.session_topic_labels``, which no sync and no ``--full-refresh`` drops (the
topic assets only ever delete from unified.session_topics and their own state). It wins for its
session (one row, confidence 1, classifier ``manual``) and is a labelled example for every other
session: the default classifier learns from it (classifiers/prototype.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from chitty_pipelines.topics.prototypes import Example
from chitty_pipelines.topics.taxonomy import Taxonomy
from chitty_pipelines.warehouse import TableSpec, Warehouse, cols

MANUAL = "manual"

LABELS = TableSpec(
    "ops",
    "session_topic_labels",
    cols(
        ("session_key", "VARCHAR", "unified.sessions.session_key"),
        ("topic_id", "VARCHAR", "a topic of the taxonomy (a subcategory is kept as given)"),
        ("text", "VARCHAR", "the session's text when labelled; the example if the session goes away"),
        ("labelled_at", "TIMESTAMPTZ"),
    ),
    primary_key=("session_key",),
    description="Manual topic categorisations: they win for their session and teach the classifier.",
)


class LabelError(ValueError):
    """An unknown topic or session: nothing was written. ``suggestion``: the session key a bare
    id probably meant (``claude:<id>`` for ``<id>``), if any."""

    def __init__(self, message: str, suggestion: str | None = None):
        super().__init__(message)
        self.suggestion = suggestion


@dataclass(frozen=True)
class Label:
    session_key: str
    topic_id: str
    text: str


def _session_text(wh: Warehouse, session_key: str) -> str | None:
    # Imported here: assets/ imports topics/, not the other way round at module load.
    from chitty_pipelines.unified.topic_tables import SESSIONS_SCHEMA, SESSIONS_TABLE, session_text

    if not wh.table_exists(SESSIONS_SCHEMA, SESSIONS_TABLE):
        return None
    with wh.connect() as con:
        row = con.execute(
            f'SELECT title, summary_text FROM "{SESSIONS_SCHEMA}"."{SESSIONS_TABLE}" WHERE session_key = ?',
            [session_key],
        ).fetchone()
    return None if row is None else session_text(row[0], row[1])


def unknown_topic(taxonomy: Taxonomy, topic_id: str) -> str:
    """What to say of a topic the taxonomy lacks: the id it probably meant, every id a label takes."""
    hint = taxonomy.suggest(topic_id)
    known = ", ".join(t.id for t in taxonomy.categories)
    subs = ", ".join(f"{t.id} ({t.parent})" for t in taxonomy.topics if not t.is_category)
    return (
        f"unknown topic {topic_id!r}"
        + (f": did you mean {hint!r}? (a label takes the topic's id)" if hint else "")
        + f" (taxonomy {taxonomy.source}); topics: {known}"
        + (f"; subcategories: {subs}" if subs else "")
    )


def _session_like(wh: Warehouse, given: str) -> str | None:
    """The one session key a bare id stands for: ``claude:<id>`` when ``<id>`` was given (the
    transcript's file name is the id a user sees)."""
    from chitty_pipelines.unified.topic_tables import SESSIONS_SCHEMA, SESSIONS_TABLE

    if ":" in given or not wh.table_exists(SESSIONS_SCHEMA, SESSIONS_TABLE):
        return None
    with wh.connect() as con:
        rows = con.execute(
            f'SELECT session_key FROM "{SESSIONS_SCHEMA}"."{SESSIONS_TABLE}" '
            f"WHERE right(session_key, {len(given) + 1}) = ? LIMIT 2",
            [f":{given}"],
        ).fetchall()
    return rows[0][0] if len(rows) == 1 else None


def set_label(wh: Warehouse, taxonomy: Taxonomy, session_key: str, topic_id: str) -> Label:
    """Validate, then record the label and make it the session's topic at once."""
    if topic_id not in taxonomy:
        raise LabelError(unknown_topic(taxonomy, topic_id))
    if not wh.exists():
        # Asking DuckDB would create an empty warehouse file: nothing is written for a label
        # that cannot apply (and `sql` keeps saying "run syncall first").
        raise LabelError(
            f"unknown session {session_key!r}: no warehouse yet ({wh.location}); "
            "run chitty-sync syncall first"
        )
    text = _session_text(wh, session_key)
    if text is None:
        like = _session_like(wh, session_key)
        hint = f"; did you mean {like!r}?" if like else " (run a sync first?)"
        raise LabelError(f"unknown session {session_key!r}: not in unified.sessions{hint}", like)
    label = Label(session_key, topic_id, text)
    now = datetime.now(UTC)
    with wh.transaction() as tx:
        tx.upsert(
            LABELS, [{"session_key": session_key, "topic_id": topic_id, "text": text, "labelled_at": now}]
        )
        _write_manual_rows(tx, taxonomy, [label], now)
    return label


def unset_label(wh: Warehouse, session_key: str) -> bool:
    """Forget a session's label; it is classified again by the next topicsync. False: none."""
    if not wh.exists() or not wh.table_exists(LABELS.schema, LABELS.name):  # creates no file
        return False
    with wh.connect() as con:
        found = con.execute(
            f"SELECT count(*) FROM {LABELS.sql_name} WHERE session_key = ?", [session_key]
        ).fetchone()[0]
    if not found:
        return False
    from chitty_pipelines.unified.topic_tables import SESSION_TOPICS, STATE

    with wh.transaction() as tx:
        tx.delete_where(LABELS, "session_key", [session_key])
        # Its manual row and state go, so the next run classifies it like any new session.
        tx.delete_where(SESSION_TOPICS, "session_key", [session_key])
        tx.delete_where(STATE, "session_key", [session_key])
    return True


def load_labels(wh: Warehouse, taxonomy: Taxonomy) -> list[Label]:
    """Labels whose topic is in ``taxonomy`` (a label of another taxonomy waits, unused)."""
    if not wh.table_exists(LABELS.schema, LABELS.name):
        return []
    with wh.connect() as con:
        rows = con.execute(
            f"SELECT session_key, topic_id, text FROM {LABELS.sql_name} ORDER BY session_key"
        ).fetchall()
    return [Label(k, t, x or "") for k, t, x in rows if t in taxonomy]


def as_examples(labels: list[Label], taxonomy: Taxonomy) -> list[Example]:
    return [
        Example(lb.text, taxonomy.category_of(lb.topic_id), f"label:{lb.session_key}")
        for lb in labels
        if lb.text
    ]


def manual_rows(taxonomy: Taxonomy, labels: list[Label], now: datetime) -> list[dict]:
    rows = []
    for lb in labels:
        category = taxonomy.category_of(lb.topic_id)
        rows.append(
            {
                "session_key": lb.session_key,
                "topic_id": category,
                "confidence": 1.0,
                "rank": 1,
                "subcategories": [lb.topic_id] if lb.topic_id != category else [],
                "evidence_terms": ["manual label"],
                "classifier": MANUAL,
                "classified_at": now,
            }
        )
    return rows


def _write_manual_rows(tx, taxonomy: Taxonomy, labels: list[Label], now: datetime) -> None:
    from chitty_pipelines.unified.topic_tables import SESSION_TOPICS

    tx.ensure(SESSION_TOPICS)
    tx.delete_where(SESSION_TOPICS, "session_key", [lb.session_key for lb in labels])
    tx.upsert(SESSION_TOPICS, manual_rows(taxonomy, labels, now))
