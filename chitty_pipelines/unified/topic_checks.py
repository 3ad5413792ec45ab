"""Data checks of unified.session_topics and unified.topics, evaluated in their assets' own steps."""

import dagster as dg

from chitty_pipelines.kernel.assets import Check, unique_key_check_result
from chitty_pipelines.unified.topic_sync import (
    OnDemand,
    classifier_identity,
    labels_fingerprint,
    prepare_classifier,
    sessions_table_exists,
    stale_sessions,
)
from chitty_pipelines.unified.topic_tables import (
    SESSION_TOPICS,
    SESSIONS_SCHEMA,
    SESSIONS_TABLE,
    STATE,
    TOPICS,
)
from chitty_pipelines.warehouse import Warehouse, quote

GROUP = "unified"
SESSION_TOPICS_KEY = dg.AssetKey(["unified", "session_topics"])
TOPICS_KEY = dg.AssetKey(["unified", "topics"])


def _wh(context) -> Warehouse:
    return context.resources.warehouse.get()


def _has(wh: Warehouse, table) -> bool:
    return wh.table_exists(table.schema, table.name)


def _check_unique_session_topics(context) -> dg.AssetCheckResult:
    return unique_key_check_result(_wh(context), SESSION_TOPICS)


def _check_unique_topics(context) -> dg.AssetCheckResult:
    return unique_key_check_result(_wh(context), TOPICS)


def _check_session_topics_in_taxonomy(context) -> dg.AssetCheckResult:
    wh, taxonomy = _wh(context), context.resources.topic_classifier.taxonomy()
    if not _has(wh, SESSION_TOPICS):
        return dg.AssetCheckResult(passed=True, metadata={"unknown_topics": 0})
    categories = [t.id for t in taxonomy.categories]
    # "parent/sub" strings, not [parent, sub] lists: a list of lists has no PostgreSQL form
    pairs = [f"{t.parent}/{t.id}" for t in taxonomy.topics if t.parent]
    unknown = [
        r["topic_id"]
        for r in wh.records(
            f"SELECT DISTINCT topic_id FROM {SESSION_TOPICS.sql_name} "
            "WHERE topic_id NOT IN (SELECT unnest(?))",
            [categories],
        )
    ]
    bad_subs = [
        r["pair"]
        for r in wh.records(
            "SELECT DISTINCT topic_id || '/' || sub AS pair FROM "
            f"(SELECT topic_id, unnest(subcategories) AS sub FROM {SESSION_TOPICS.sql_name}) AS s "
            "WHERE topic_id || '/' || sub NOT IN (SELECT unnest(?))",
            [pairs],
        )
    ]
    return dg.AssetCheckResult(
        passed=not unknown and not bad_subs,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "unknown_topics": ", ".join(sorted(unknown)[:20]) or "none",
            "misplaced_subcategories": ", ".join(sorted(bad_subs)[:20]) or "none",
            "taxonomy": taxonomy.source,
        },
    )


def _check_topics_match_taxonomy(context) -> dg.AssetCheckResult:
    wh, taxonomy = _wh(context), context.resources.topic_classifier.taxonomy()
    stored = (
        {r["topic_id"] for r in wh.records(f"SELECT topic_id FROM {TOPICS.sql_name}")}
        if _has(wh, TOPICS)
        else set()
    )
    extra, missing = sorted(stored - set(taxonomy.ids)), sorted(set(taxonomy.ids) - stored)
    return dg.AssetCheckResult(
        passed=not extra and not missing,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"not_in_taxonomy": ", ".join(extra) or "none", "missing": ", ".join(missing) or "none"},
    )


def _check_confidence_range(context) -> dg.AssetCheckResult:
    wh = _wh(context)
    bad = 0
    if _has(wh, SESSION_TOPICS):
        bad = int(
            wh.scalar(
                f"SELECT count(*) FROM {SESSION_TOPICS.sql_name} "
                "WHERE confidence IS NULL OR isnan(confidence) OR confidence < 0 OR confidence > 1"
            )
        )
    return dg.AssetCheckResult(
        passed=bad == 0, severity=dg.AssetCheckSeverity.ERROR, metadata={"out_of_range": bad}
    )


def _check_sessions_exist(context) -> dg.AssetCheckResult:
    wh = _wh(context)
    if not _has(wh, SESSION_TOPICS):
        return dg.AssetCheckResult(passed=True, metadata={"orphan_sessions": 0})
    if sessions_table_exists(wh):
        orphans = int(
            wh.scalar(
                f"SELECT count(DISTINCT session_key) FROM {SESSION_TOPICS.sql_name} st WHERE NOT EXISTS "
                f"(SELECT 1 FROM {quote(SESSIONS_SCHEMA)}.{quote(SESSIONS_TABLE)} s "
                "WHERE s.session_key = st.session_key)"
            )
        )
    else:
        orphans = int(wh.scalar(f"SELECT count(DISTINCT session_key) FROM {SESSION_TOPICS.sql_name}"))
    return dg.AssetCheckResult(
        passed=orphans == 0, severity=dg.AssetCheckSeverity.ERROR, metadata={"orphan_sessions": orphans}
    )


def _check_freshness(context) -> dg.AssetCheckResult:
    """Every session is classified from its current summary, by the configured classifier and
    taxonomy; a session changed since the last run (or never classified) is stale."""
    wh, resource = _wh(context), context.resources.topic_classifier
    taxonomy = resource.taxonomy()
    # The label the last classification stored, while the settings, taxonomy and labels are the
    # same (building the classifier costs seconds); else the label a classification would give now.
    stored = wh.cursors(GROUP, "session_topics")
    identity = {**classifier_identity(resource, taxonomy), "labels": labels_fingerprint(wh, taxonomy)}
    known = stored.get("label") if stored.get("identity") == identity else None
    on_demand = OnDemand(lambda: prepare_classifier(wh, resource.build(taxonomy), taxonomy))
    stale = stale_sessions(wh, (lambda: known) if known else on_demand.label, taxonomy)
    label = known or (on_demand.label() if on_demand.built else resource.classifier)
    last = wh.scalar(f"SELECT max(classified_at) FROM {STATE.sql_name}") if _has(wh, STATE) else None
    return dg.AssetCheckResult(
        passed=stale == 0,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "stale_sessions": stale,
            "classifier": label,
            "last_classified_at": last.isoformat() if last else "never",
        },
    )


_TOPIC_CHECK_LIST = [
    Check(
        SESSION_TOPICS_KEY,
        "unique_key",
        _check_unique_session_topics,
        "(session_key, topic_id) is unique.",
        blocking=True,
    ),
    Check(
        SESSION_TOPICS_KEY,
        "topics_in_taxonomy",
        _check_session_topics_in_taxonomy,
        "Every topic_id (and subcategory) is in the taxonomy.",
        blocking=True,
    ),
    Check(SESSION_TOPICS_KEY, "confidence_in_range", _check_confidence_range, "confidence is in [0, 1]."),
    Check(
        SESSION_TOPICS_KEY,
        "sessions_exist",
        _check_sessions_exist,
        "Every session_key exists in unified.sessions.",
    ),
    Check(
        SESSION_TOPICS_KEY,
        "fresh",
        _check_freshness,
        "Every session is classified from its current summary by the configured classifier.",
    ),
    Check(TOPICS_KEY, "unique_key", _check_unique_topics, "topic_id is unique.", blocking=True),
    Check(
        TOPICS_KEY,
        "topics_in_taxonomy",
        _check_topics_match_taxonomy,
        "The table holds exactly the taxonomy's topics.",
        blocking=True,
    ),
]
SESSION_TOPIC_CHECKS = [c for c in _TOPIC_CHECK_LIST if c.asset == SESSION_TOPICS_KEY]
TOPICS_TABLE_CHECKS = [c for c in _TOPIC_CHECK_LIST if c.asset == TOPICS_KEY]
