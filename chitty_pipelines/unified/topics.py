"""``unified/session_topics`` and ``unified/topics``: every session of unified.sessions categorised
into the topic taxonomy, and the taxonomy with counts. Classification lives in topic_sync.py, the
classifiers in chitty_pipelines/topics/.

Re-runs classify only sessions whose summary changed (or all of them when the classifier, the
taxonomy or the run's full_refresh says so). When neither unified.sessions (count and a hash of
every key, title and summary, one SQL aggregate) nor the classifier settings nor the taxonomy
changed since the last run, both assets skip: no classifier is built, nothing is written, and the
metadata says why. Without a unified.sessions table both assets succeed with zero rows and say why.
"""

# No ``from __future__ import annotations``: Dagster reads the config/resource annotations.
from datetime import UTC, datetime

import dagster as dg

from chitty_pipelines.kernel.assets import (
    StreamStats,
    SyncConfig,
    is_full_refresh,
    log_sync,
    now,
    table_asset_spec,
    table_metadata,
)
from chitty_pipelines.kernel.platform_asset import check_specs_of, with_checks
from chitty_pipelines.topics.taxonomy import Taxonomy
from chitty_pipelines.unified.topic_checks import (
    SESSION_TOPIC_CHECKS,
    SESSION_TOPICS_KEY,
    TOPICS_KEY,
    TOPICS_TABLE_CHECKS,
)
from chitty_pipelines.unified.topic_classifier import TopicClassifierResource
from chitty_pipelines.unified.topic_labels import load_labels
from chitty_pipelines.unified.topic_sync import (
    OnDemand,
    _exists,
    classifier_identity,
    classify_sessions,
    labels_fingerprint,
    prepare_classifier,
    sessions_table_exists,
)
from chitty_pipelines.unified.topic_tables import (
    SESSION_TOPICS,
    SESSIONS_SCHEMA,
    SESSIONS_TABLE,
    STATE,
    TOPICS,
)
from chitty_pipelines.warehouse import Warehouse, quote
from chitty_pipelines.warehouse.resource import WarehouseResource

GROUP = "unified"
# ops.sync_log.asset holds the asset key, as for every other unified table (status reads it)
_SESSION_TOPICS_LOG = SESSION_TOPICS_KEY.to_user_string()
_TOPICS_LOG = TOPICS_KEY.to_user_string()
SESSIONS_KEY = dg.AssetKey(["unified", "sessions"])
_KINDS = {"duckdb", "python"}
_NO_SESSIONS = "unified.sessions does not exist yet: materialize unified/sessions first"


@dg.multi_asset(
    name="unified__session_topics",
    specs=[
        table_asset_spec(
            SESSION_TOPICS_KEY,
            SESSION_TOPICS,
            group=GROUP,
            deps=[SESSIONS_KEY],
            kinds=_KINDS,
            description=SESSION_TOPICS.description
            + " Classifier from CHITTY_TOPIC_CLASSIFIER (default prototype, offline); taxonomy from "
            "CHITTY_TOPIC_TAXONOMY (default: the ChittyOS topics).",
        )
    ],
    check_specs=check_specs_of(SESSION_TOPIC_CHECKS),
    can_subset=True,
)
@with_checks(SESSION_TOPIC_CHECKS)
def session_topics(
    context: dg.AssetExecutionContext,
    config: SyncConfig,
    warehouse: WarehouseResource,
    topic_classifier: TopicClassifierResource,
) -> dg.MaterializeResult:
    started = now()
    wh = warehouse.get()
    full = is_full_refresh(context, config)
    taxonomy = topic_classifier.taxonomy()
    if not sessions_table_exists(wh):
        common = {
            "classifier": topic_classifier.classifier,
            "taxonomy": taxonomy.source,
            "full_refresh": full,
        }
        context.log.info(_NO_SESSIONS)
        log_sync(
            wh,
            context,
            platform=GROUP,
            asset=_SESSION_TOPICS_LOG,
            started_at=started,
            status="success",
            full_refresh=full,
            message=_NO_SESSIONS,
        )
        return dg.MaterializeResult(
            metadata={"dagster/row_count": 0, "sessions_table": "missing", "reason": _NO_SESSIONS, **common}
        )
    probe = sessions_probe(wh)
    identity = {**classifier_identity(topic_classifier, taxonomy), "labels": labels_fingerprint(wh, taxonomy)}
    stored = wh.cursors(GROUP, "session_topics")
    if not full and _exists_table(wh, STATE) and stored.get("sessions") == probe and (
        stored.get("identity") == identity and not stored.get("failed")):  # fmt: skip
        reason = f"no session, classifier or taxonomy change since {stored.get('classified_at')}"
        context.log.info(f"topics: {reason}")
        stats = StreamStats(extra={
            "classifier": stored.get("label"), "taxonomy": taxonomy.source, "full_refresh": full,
            "skipped": reason, "sessions": probe[0], "classified": 0, "unchanged": probe[0],
            "removed": 0, "failed": 0, "no_topic": 0,
        })  # fmt: skip
        log_sync(wh, context, platform=GROUP, asset=_SESSION_TOPICS_LOG, started_at=started,
                 status="success", stats=stats, message=reason)  # fmt: skip
        return dg.MaterializeResult(metadata=table_metadata(wh, SESSION_TOPICS, stats))
    # Taught by the manual labels (topics/labels.py) when the classifier can learn from them;
    # built only if a session needs classifying.
    on_demand = OnDemand(lambda: prepare_classifier(wh, topic_classifier.build(taxonomy), taxonomy))
    outcome = classify_sessions(
        wh, on_demand, taxonomy, run_id=context.run.run_id, full_refresh=full, progress=context.log.info
    )
    # Not built: nothing was classified, so the label is the last one stored under these settings
    # (none yet on a first run without sessions: the freshness check then builds nothing either).
    if on_demand.built:
        label = on_demand.label()
    else:
        label = stored.get("label") if stored.get("identity") == identity else None
    common = {"classifier": label or topic_classifier.classifier, "taxonomy": taxonomy.source,
              "full_refresh": full, "manual_labels": len(load_labels(wh, taxonomy))}  # fmt: skip
    before = stored.get("identity") or {}
    if label and stored.get("label") and stored.get("label") != label:
        # A label teaches every session, and a new classifier (version) reads them all anew.
        common["reclassified_all"] = (
            "the manual labels changed and the classifier learns from them"
            if before.get("labels") != identity["labels"]
            else f"the classifier changed ({stored['label']} -> {label})"
        ) + ": every session was classified again, not only new or changed ones"
    # After the chunks: a crash before this line leaves the old mark, so the next run re-plans.
    with wh.transaction(context.run.run_id) as tx:
        tx.set_cursors(GROUP, "session_topics", {
            "sessions": probe, "identity": identity, "failed": outcome.failed, "label": label,
            "classified_at": started.isoformat(),
        })  # fmt: skip
    context.log.info(
        f"topics ({common['classifier']}): {outcome.sessions} session(s), {outcome.classified} classified, "
        f"{outcome.unchanged} unchanged, {outcome.removed} removed, {outcome.failed} failed"
    )
    stats = StreamStats(
        rows_written=outcome.rows_written,
        rejects=outcome.failed,
        extra={**common, **outcome.metadata(), "top_topics": _top_topics(wh)},
    )
    if outcome.errors:
        stats.extra["errors"] = dg.MetadataValue.md("\n".join(f"- {e}" for e in outcome.errors[:10]))
    log_sync(
        wh,
        context,
        platform=GROUP,
        asset=_SESSION_TOPICS_LOG,
        started_at=started,
        status="success" if not outcome.failed else "partial",
        stats=stats,
        full_refresh=full,
        message=f"{common['classifier']}: {outcome.classified} classified, {outcome.failed} failed",
    )
    return dg.MaterializeResult(metadata=table_metadata(wh, SESSION_TOPICS, stats))


@dg.multi_asset(
    name="unified__topics",
    specs=[table_asset_spec(TOPICS_KEY, TOPICS, group=GROUP, deps=[SESSION_TOPICS_KEY], kinds=_KINDS)],
    check_specs=check_specs_of(TOPICS_TABLE_CHECKS),
    can_subset=True,
)
@with_checks(TOPICS_TABLE_CHECKS)
def topics(
    context: dg.AssetExecutionContext,
    warehouse: WarehouseResource,
    topic_classifier: TopicClassifierResource,
) -> dg.MaterializeResult:
    started = now()
    wh = warehouse.get()
    taxonomy = topic_classifier.taxonomy()
    probe = [*topics_probe(wh), taxonomy.fingerprint]
    stored = wh.cursors(GROUP, "topics")
    if _exists_table(wh, TOPICS) and stored.get("probe") == probe:
        reason = f"no classification or taxonomy change since {stored.get('refreshed_at')}"
        context.log.info(f"topics: {reason}")
        stats = StreamStats(extra={"skipped": reason, "taxonomy": taxonomy.source})
        log_sync(wh, context, platform=GROUP, asset=_TOPICS_LOG, started_at=started, status="success",
                 stats=stats, message=reason)  # fmt: skip
        return dg.MaterializeResult(metadata=table_metadata(wh, TOPICS, stats))
    rows = topic_rows(wh, taxonomy)
    with wh.transaction(context.run.run_id) as tx:
        tx.ensure(TOPICS)
        # The taxonomy is the truth: a topic removed from it leaves the table too.
        tx.con.execute(f"DELETE FROM {TOPICS.sql_name}")
        written = tx.upsert(TOPICS, rows)
        tx.set_cursors(GROUP, "topics", {"probe": probe, "refreshed_at": started.isoformat()})
    classifiers = []
    if wh.table_exists(SESSION_TOPICS.schema, SESSION_TOPICS.name):
        classifiers = sorted(
            r["classifier"] for r in wh.records(f"SELECT DISTINCT classifier FROM {SESSION_TOPICS.sql_name}")
        )
    stats = StreamStats(
        rows_written=written,
        extra={
            "taxonomy": taxonomy.source,
            "categories": len(taxonomy.categories),
            "subcategories": len(taxonomy.topics) - len(taxonomy.categories),
            "topics_with_sessions": sum(1 for r in rows if r["session_count"]),
            "classifiers": ", ".join(classifiers) or "none",
            "sessions_table": "present" if sessions_table_exists(wh) else "missing",
            "top_topics": _top_topics(wh),
        },
    )
    log_sync(
        wh, context, platform=GROUP, asset=_TOPICS_LOG, started_at=started, status="success", stats=stats
    )
    return dg.MaterializeResult(metadata=table_metadata(wh, TOPICS, stats))


def _exists_table(wh: Warehouse, table) -> bool:
    return wh.table_exists(table.schema, table.name)


def sessions_probe(wh: Warehouse) -> list:
    """[sessions, hash of every (key, title, summary)]: what classification reads, in one aggregate."""
    count, digest = wh.records(
        "SELECT count(*) AS n, "
        "CAST(coalesce(sum(hash(session_key, title, summary_text)), 0) AS VARCHAR) AS h "
        f"FROM {quote(SESSIONS_SCHEMA)}.{quote(SESSIONS_TABLE)}"
    )[0].values()
    return [int(count), str(digest)]


def topics_probe(wh: Warehouse) -> list:
    if not _exists_table(wh, SESSION_TOPICS):
        return [0, None]
    count, last = wh.records(
        f"SELECT count(*) AS n, CAST(max(classified_at) AS VARCHAR) AS t FROM {SESSION_TOPICS.sql_name}"
    )[0].values()
    return [int(count), last]


def topic_rows(wh: Warehouse, taxonomy: Taxonomy) -> list[dict]:
    counts: dict[str, tuple[int, int, float | None, datetime | None]] = {}
    with wh.connect() as con:
        if _exists(con, SESSION_TOPICS):
            per_topic = con.execute(
                f"SELECT topic_id, count(*), count(*) FILTER (WHERE rank = 1), avg(confidence), "
                f"max(classified_at) FROM {SESSION_TOPICS.sql_name} GROUP BY topic_id"
            ).fetchall()
            per_sub = con.execute(
                "SELECT sub, count(*), 0, avg(confidence), max(classified_at) FROM "
                "(SELECT unnest(subcategories) AS sub, confidence, classified_at "
                f"FROM {SESSION_TOPICS.sql_name}) GROUP BY sub"
            ).fetchall()
            for topic_id, n, primary, avg, last in [*per_topic, *per_sub]:
                counts[topic_id] = (int(n), int(primary), float(avg), last)
    refreshed = datetime.now(UTC)
    rows = []
    for t in taxonomy.topics:
        n, primary, avg, last = counts.get(t.id, (0, 0, None, None))
        rows.append(
            {
                "topic_id": t.id,
                "name": t.name,
                "description": t.description,
                "keywords": list(t.keywords),
                "parent_topic_id": t.parent,
                "level": "category" if t.is_category else "subcategory",
                "session_count": n,
                "primary_session_count": primary,
                "avg_confidence": round(avg, 4) if avg is not None else None,
                "last_updated": last,
                "taxonomy_source": taxonomy.source,
                "refreshed_at": refreshed,
            }
        )
    return rows


def _top_topics(wh: Warehouse) -> dg.MetadataValue:
    if not wh.table_exists(SESSION_TOPICS.schema, SESSION_TOPICS.name):
        return dg.MetadataValue.md("no sessions classified")
    rows = wh.records(
        f"SELECT topic_id, count(*) AS sessions, round(avg(confidence), 3) AS avg_confidence "
        f"FROM {SESSION_TOPICS.sql_name} WHERE rank = 1 GROUP BY topic_id "
        "ORDER BY sessions DESC, topic_id LIMIT 10"
    )
    lines = ["| primary topic | sessions | avg confidence |", "|---|---|---|"]
    lines += [f"| {r['topic_id']} | {r['sessions']} | {r['avg_confidence']} |" for r in rows]
    return dg.MetadataValue.md("\n".join(lines) if rows else "no sessions classified")


defs = dg.Definitions(
    assets=[session_topics, topics],
    resources={"topic_classifier": TopicClassifierResource.from_settings()},
)
