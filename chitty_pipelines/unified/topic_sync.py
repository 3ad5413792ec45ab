"""Classifying unified.sessions incrementally: which sessions need (re)classification, and writing
their topics with their state in one transaction per chunk."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from chitty_pipelines.topics.classifiers import ClassifierError, TopicClassifier
from chitty_pipelines.topics.prototypes import prototypes_version
from chitty_pipelines.topics.taxonomy import Taxonomy
from chitty_pipelines.unified import topic_labels as manual
from chitty_pipelines.unified.topic_classifier import TopicClassifierResource
from chitty_pipelines.unified.topic_tables import (
    SESSION_TOPICS,
    SESSIONS_SCHEMA,
    SESSIONS_TABLE,
    STATE,
    session_text,
    text_hash,
)
from chitty_pipelines.warehouse import Warehouse, quote

log = logging.getLogger(__name__)


def classifier_label(classifier: TopicClassifier) -> str:
    return str(getattr(classifier, "label", classifier.name))


def prepare_classifier(wh: Warehouse, classifier: TopicClassifier, taxonomy: Taxonomy) -> TopicClassifier:
    """The classifier taught by the manual labels, when it can learn from them (the default
    classifier can; keyword, semantic and llm ignore them, the labels still win for their own
    sessions). Its label then names the label set, so a changed label set re-classifies all."""
    teach = getattr(classifier, "with_labels", None)
    found = manual.load_labels(wh, taxonomy)
    if teach is None or not found:
        return classifier
    return teach(manual.as_examples(found, taxonomy))


@dataclass
class Pending:
    session_key: str
    text: str
    summary_hash: str


@dataclass
class Plan:
    sessions: int = 0
    pending: list[Pending] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return self.sessions - len(self.pending)


@dataclass
class Outcome:
    sessions: int = 0
    classified: int = 0
    unchanged: int = 0
    removed: int = 0
    failed: int = 0
    no_topic: int = 0
    rows_written: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    def metadata(self) -> dict[str, Any]:
        return {
            "sessions": self.sessions,
            "classified": self.classified,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": self.failed,
            "no_topic": self.no_topic,
            "classify_seconds": round(self.seconds, 3),
        }


def _exists(con: Any, table: Any) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
            [table.schema, table.name],
        ).fetchone()[0]
    )


def sessions_table_exists(wh: Warehouse) -> bool:
    return wh.table_exists(SESSIONS_SCHEMA, SESSIONS_TABLE)


class OnDemand:
    """The configured classifier, built the first time something asks for it: building the
    default one fits it (1-2 s when no fit is cached yet), which a run with no session to
    classify (a first sync of Neon or Notion alone) need not pay."""

    def __init__(self, build: Callable[[], TopicClassifier]) -> None:
        self._build = build
        self._classifier: TopicClassifier | None = None

    @property
    def built(self) -> bool:
        return self._classifier is not None

    @property
    def classifier(self) -> TopicClassifier:
        if self._classifier is None:
            self._classifier = self._build()
        return self._classifier

    def label(self) -> str:
        return classifier_label(self.classifier)


def plan(wh: Warehouse, label: Callable[[], str], taxonomy: Taxonomy, full_refresh: bool) -> Plan:
    """Sessions whose text, classifier or taxonomy changed since their last classification (all of
    them on a full refresh), and topic rows of sessions that no longer exist. Manually labelled
    sessions are never classified: their label is their topic. ``label()`` (the classifier's
    label) is asked for only when a stored classification has to be compared with it."""
    labelled = {lb.session_key for lb in manual.load_labels(wh, taxonomy)}
    # One connection for every read: opening the DuckDB file costs more than these queries.
    with wh.connect() as con:
        sessions = con.execute(
            f"SELECT session_key, title, summary_text FROM {quote(SESSIONS_SCHEMA)}.{quote(SESSIONS_TABLE)} "
            "WHERE session_key IS NOT NULL ORDER BY session_key"
        ).fetchall()
        state: dict[str, tuple[str, str, str]] = {}
        if _exists(con, STATE):
            rows = con.execute(
                f"SELECT session_key, summary_hash, classifier, taxonomy_fingerprint FROM {STATE.sql_name}"
            ).fetchall()
            state = {r[0]: (r[1], r[2], r[3]) for r in rows}
        stored = set(state)
        if _exists(con, SESSION_TOPICS):
            stored |= {
                r[0]
                for r in con.execute(f"SELECT DISTINCT session_key FROM {SESSION_TOPICS.sql_name}").fetchall()
            }
    out = Plan(sessions=len(sessions))
    keys: set[str] = set()
    current: list[str] = []  # the label, once asked for
    for key, title, summary in sessions:
        keys.add(key)
        text = session_text(title, summary)
        digest = text_hash(text)
        if key in labelled:
            continue
        if not full_refresh and key in state and not current:
            current.append(label())
        if full_refresh or state.get(key) != (digest, *current, taxonomy.fingerprint):
            out.pending.append(Pending(key, text, digest))
    out.removed = sorted(stored - keys)
    return out


def classify_sessions(
    wh: Warehouse,
    on_demand: OnDemand,
    taxonomy: Taxonomy,
    *,
    run_id: str | None,
    full_refresh: bool,
    chunk: int = 500,
    progress: Callable[[str], None] | None = None,
) -> Outcome:
    """Classify what ``plan`` finds; the classifier is built only if that is anything."""
    todo = plan(wh, on_demand.label, taxonomy, full_refresh)
    outcome = Outcome(sessions=todo.sessions, unchanged=todo.unchanged, removed=len(todo.removed))
    if todo.removed:
        with wh.transaction(run_id) as tx:
            tx.delete_where(SESSION_TOPICS, "session_key", todo.removed)
            tx.delete_where(STATE, "session_key", todo.removed)
    _write_labels(wh, run_id, taxonomy, todo)
    if not todo.pending:
        return outcome
    classifier, label = on_demand.classifier, on_demand.label()
    started = time.monotonic()
    chunk = int(getattr(classifier, "batch_size", chunk))
    for start in range(0, len(todo.pending), chunk):
        batch = todo.pending[start : start + chunk]
        try:
            results = classifier.classify([p.text for p in batch])
        except ClassifierError as exc:
            # Left without state, these sessions are tried again on the next run.
            outcome.failed += len(batch)
            outcome.errors.append(str(exc))
            log.warning("topic classification of %d session(s) failed: %s", len(batch), exc)
            continue
        _write(wh, run_id, label, taxonomy, batch, results, outcome)
        if progress and len(todo.pending) > chunk:  # a first sync of a long history: minutes
            done = min(start + chunk, len(todo.pending))
            progress(
                f"topics: classified {done:,} of {len(todo.pending):,} sessions "
                f"({time.monotonic() - started:.0f} s)"
            )
    outcome.seconds = time.monotonic() - started
    return outcome


def _write(wh, run_id, label, taxonomy, batch, results, outcome) -> None:
    now = datetime.now(UTC)
    rows, states = [], []
    for pending, scores in zip(batch, results, strict=True):
        for rank, score in enumerate(scores, start=1):
            rows.append(
                {
                    "session_key": pending.session_key,
                    "topic_id": score.topic_id,
                    "confidence": float(score.confidence),
                    "rank": rank,
                    "subcategories": list(score.subcategories),
                    "evidence_terms": list(score.evidence_terms),
                    "classifier": label,
                    "classified_at": now,
                }
            )
        outcome.no_topic += not scores
        states.append(
            {
                "session_key": pending.session_key,
                "summary_hash": pending.summary_hash,
                "classifier": label,
                "taxonomy_fingerprint": taxonomy.fingerprint,
                "topics": len(scores),
                "classified_at": now,
            }
        )
    with wh.transaction(run_id) as tx:
        tx.ensure(SESSION_TOPICS)
        # Replace, not merge: a topic the session no longer has must go.
        tx.delete_where(SESSION_TOPICS, "session_key", [p.session_key for p in batch])
        outcome.rows_written += tx.upsert(SESSION_TOPICS, rows)
        tx.upsert(STATE, states)
    outcome.classified += len(batch)


def _write_labels(wh: Warehouse, run_id: str | None, taxonomy: Taxonomy, todo: Plan) -> None:
    """Every labelled session that still exists gets its manual row back (a full refresh, or a
    row deleted by hand, cannot lose it); labels are few, so rewriting them all is cheap."""
    found = [lb for lb in manual.load_labels(wh, taxonomy) if lb.session_key not in set(todo.removed)]
    if not found:
        return
    now = datetime.now(UTC)
    with wh.transaction(run_id) as tx:
        tx.ensure(SESSION_TOPICS)
        tx.delete_where(SESSION_TOPICS, "session_key", [lb.session_key for lb in found])
        tx.upsert(SESSION_TOPICS, manual.manual_rows(taxonomy, found, now))


def stale_sessions(wh: Warehouse, label: Callable[[], str], taxonomy: Taxonomy) -> int:
    """Sessions whose stored classification does not match their current text (freshness)."""
    if not sessions_table_exists(wh):
        return 0
    return len(plan(wh, label, taxonomy, full_refresh=False).pending)


def labels_fingerprint(wh: Warehouse, taxonomy: Taxonomy) -> str:
    """The manual labels (a new or removed label re-classifies: it teaches the others)."""
    found = sorted((label.session_key, label.topic_id) for label in manual.load_labels(wh, taxonomy))
    return hashlib.sha1(repr(found).encode()).hexdigest()


def classifier_identity(resource: TopicClassifierResource, taxonomy: Taxonomy) -> dict:
    """Everything that changes a classification, without building the classifier (no secrets)."""
    fields = ("classifier", "taxonomy_path", "max_topics", "min_confidence", "llm_base_url", "llm_model")
    identity = {**{f: getattr(resource, f) for f in fields}, "taxonomy": taxonomy.fingerprint}
    if resource.classifier == "prototype":
        # A new version of the prototypes classifies differently (its label says which version).
        identity["prototypes_version"] = prototypes_version()
    return identity
