"""Tables of the topic assets: unified.session_topics, unified.topics and the classification
state that makes re-runs incremental (ops.session_topic_state)."""

from __future__ import annotations

import hashlib

from chitty_pipelines.warehouse import TableSpec, cols

# The contract with unified/sessions: these columns of unified.sessions are read.
SESSIONS_SCHEMA, SESSIONS_TABLE = "unified", "sessions"

SESSION_TOPICS = TableSpec(
    "unified",
    "session_topics",
    cols(
        ("session_key", "VARCHAR", "unified.sessions.session_key"),
        ("topic_id", "VARCHAR", "top-level topic of the taxonomy"),
        ("confidence", "DOUBLE", "0..1; the classifier's confidence in this topic"),
        ("rank", "INTEGER", "1 = the session's primary topic"),
        ("subcategories", "VARCHAR[]", "subcategory ids of the topic that apply"),
        ("evidence_terms", "VARCHAR[]", "keywords and words of the session that gave the topic away"),
        (
            "classifier",
            "VARCHAR",
            "what decided: prototype:v<N> (+<n>labels:<digest> when taught), tfidf, original, "
            "semantic, llm:<model> or manual",
        ),
        ("classified_at", "TIMESTAMPTZ", "when this session was (re)classified"),
    ),
    primary_key=("session_key", "topic_id"),
    description="Each AI session's topics, best first, with confidence and evidence.",
)

TOPICS = TableSpec(
    "unified",
    "topics",
    cols(
        ("topic_id", "VARCHAR"),
        ("name", "VARCHAR"),
        ("description", "VARCHAR"),
        ("keywords", "VARCHAR[]"),
        ("parent_topic_id", "VARCHAR", "set for subcategories"),
        ("level", "VARCHAR", "category or subcategory"),
        ("session_count", "BIGINT", "sessions with this topic (subcategories: with it among theirs)"),
        ("primary_session_count", "BIGINT", "sessions whose primary topic this is"),
        ("avg_confidence", "DOUBLE", "mean confidence over those sessions"),
        ("last_updated", "TIMESTAMPTZ", "last time a session was classified into it"),
        ("taxonomy_source", "VARCHAR", "the taxonomy file"),
        ("refreshed_at", "TIMESTAMPTZ", "when this row was computed"),
    ),
    primary_key=("topic_id",),
    description="The topic taxonomy with session counts, average confidence and last update.",
)

STATE = TableSpec(
    "ops",
    "session_topic_state",
    cols(
        ("session_key", "VARCHAR"),
        ("summary_hash", "VARCHAR", "sha1 of the text classified"),
        ("classifier", "VARCHAR"),
        ("taxonomy_fingerprint", "VARCHAR"),
        ("topics", "INTEGER", "topics written (0: no topic could be told)"),
        ("classified_at", "TIMESTAMPTZ"),
    ),
    primary_key=("session_key",),
    description="What each session was last classified from: a session is re-classified only when "
    "its summary, the classifier or the taxonomy changed.",
)


def session_text(title: str | None, summary: str | None) -> str:
    """The text classified: the summary (which starts with the title), else the title."""
    summary = (summary or "").strip()
    return summary if summary else (title or "").strip()


def text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()
