"""``/api/topic`` (and ``/topic``): topic categories (unified.topics, built by the syncs) and the
conversations clients file under them (hub store). Fixes of section 1.4: exact ids (4), category
metadata apart from records (9), and a category derived server-side when the client sends only
content (11: the original client never sent one, so every call failed)."""

from __future__ import annotations

import functools
import threading
from collections import defaultdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from chitty_pipelines.api import models as m
from chitty_pipelines.api import views
from chitty_pipelines.api.deps import PathId, Read, SessionKeyPathId, State, Write, valid_id
from chitty_pipelines.api.errors import ApiError
from chitty_pipelines.api.store import iso, utcnow
from chitty_pipelines.warehouse.hubstore import PREVIEW_CHARS

router = APIRouter(tags=["topics"])
_classifier_lock = threading.Lock()


@functools.cache
def _classifier() -> Any:
    # TF-IDF over the taxonomy: offline, deterministic, ~50 ms to build once per process.
    from chitty_pipelines.topics.classifiers.tfidf import TfidfClassifier
    from chitty_pipelines.topics.taxonomy import load_taxonomy

    return TfidfClassifier(load_taxonomy())


def classify(text: str) -> tuple[str, float, list[str]]:
    with _classifier_lock:
        scores = _classifier().classify([text])[0]
    if not scores:
        return "general", 0.0, []
    best = scores[0]
    return best.topic_id, round(float(best.confidence), 4), list(best.subcategories)


@router.get("/topic", response_model=m.TopicListReply)
def list_topics(api: State, _who: Read) -> m.TopicListReply:
    unified, _meta = api.store.topic_categories()
    conv: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for c in api.hub.conversations():
        conv[c["category"]].append(c)
    by_id = {t["topic_id"]: t for t in unified}
    topics = []
    for cat in sorted(set(by_id) | set(conv)):
        rows = conv.get(cat, [])
        u = by_id.get(cat, {})
        confidences = [float(r["confidence"]) for r in rows]
        topics.append(
            m.TopicCategory(
                category=cat,
                count=len(rows),
                avgConfidence=round(sum(confidences) / len(confidences), 4)
                if confidences
                else u.get("avg_confidence"),
                lastUpdated=max((r["updated_at"] for r in rows), default=None) or iso(u.get("last_updated")),
                sessions=u.get("session_count"),
            )
        )
    return m.TopicListReply(topics=topics, total=len(topics), timestamp=iso(utcnow()) or "")


@router.get(
    "/topic/{topic_id}", response_model=m.TopicCategoryReply, responses={404: {"model": m.ErrorReply}}
)
def get_category(api: State, _who: Read, topic_id: PathId) -> m.TopicCategoryReply:
    cat = valid_id(topic_id, "category")
    rows = api.hub.conversations(cat)
    if not rows:
        unified, _meta = api.store.topic_categories()
        if not any(t["topic_id"] == cat for t in unified):
            raise ApiError(404, f"no topic category {cat!r}", {"category": cat})
    return m.TopicCategoryReply(
        category=cat, conversations=[views.conversation_out(r) for r in rows], count=len(rows)
    )


def _record(
    conversation_id: str, body: m.TopicBody | m.TopicPutBody, old: dict[str, Any] | None
) -> dict[str, Any]:
    category, confidence, subs = body.category, body.confidence, body.subcategories
    # stored: a category the client sends is its own; none on an update keeps who chose it
    by: str | None = "client" if category is not None or old is None else None
    if category is None and old is None:
        if not body.content:
            raise ApiError(400, "category or content required (the category is derived from content)")
        category, derived_conf, derived_subs = classify(body.content)
        confidence = confidence if confidence is not None else derived_conf
        subs = subs or derived_subs
        by = "server:tfidf"
    return {
        "conversation_id": conversation_id,
        "category": category,
        "subcategories": subs,
        "confidence": confidence if confidence is not None else (None if old else 0.5),
        "file": body.file,
        "content_preview": body.content[:PREVIEW_CHARS] if body.content else None,
        "categorized_by": by,
    }


@router.post(
    "/topic",
    status_code=201,
    response_model=m.ConversationReply,
    responses={
        200: {"model": m.ConversationReply, "description": "existing conversation updated"},
        400: {"model": m.ErrorReply},
    },
)
def post_topic(api: State, _who: Write, body: m.TopicBody) -> JSONResponse:
    old = api.hub.conversation(body.id)
    outcome = api.hub.upsert_conversation(_record(body.id, body, old))
    reply = m.ConversationReply(
        created=outcome.created, conversation=views.conversation_out(outcome.record or {})
    )
    return JSONResponse(reply.model_dump(mode="json"), status_code=201 if outcome.created else 200)


@router.put(
    "/topic/{topic_id}",
    response_model=m.ConversationReply | m.TopicLabelReply,
    responses={400: {"model": m.ErrorReply}, 404: {"model": m.ErrorReply}, 503: {"model": m.ErrorReply}},
)
def put_topic(
    api: State, _who: Write, topic_id: SessionKeyPathId, body: m.TopicPutBody
) -> m.ConversationReply | m.TopicLabelReply:
    """A hub conversation's id: the original's partial update. Otherwise a session key of
    unified.sessions: a manual label, exactly ``chitty-sync topic set KEY CATEGORY``."""
    key = topic_id  # the path pattern checked it; a key with '#' is never a conversation's id
    old = None if "#" in key else api.hub.conversation(valid_id(key, "conversation id or session key"))
    if old is None:  # exact key (fix 4): no substring match, no upsert through PUT
        return _label(api, key, body)
    outcome = api.hub.upsert_conversation(_record(key, body, old))
    return m.ConversationReply(created=False, conversation=views.conversation_out(outcome.record or {}))


def _taxonomy() -> Any:
    from chitty_pipelines.unified.topic_classifier import TopicClassifierResource

    return TopicClassifierResource.from_settings().taxonomy()


def _label(api: Any, key: str, body: m.TopicPutBody) -> m.TopicLabelReply:
    """Validate everything before writing: a label names a topic of the taxonomy (400) and a
    session the warehouse knows (404); only ``category`` may be given (a label has no
    confidence, file or content of its own)."""
    from chitty_pipelines.unified.topic_labels import LabelError, set_label

    extra = sorted(f for f in body.model_fields_set if f != "category")
    if body.category is None or extra:
        raise ApiError(
            400,
            'a manual topic label takes only {"category": TOPIC}'
            + (f" (not {', '.join(extra)})" if extra else ""),
            {"sessionKey": key},
        )
    taxonomy = _taxonomy()
    if body.category not in taxonomy:
        hint = taxonomy.suggest(body.category)
        raise ApiError(
            400,
            f"unknown topic {body.category!r}: not in the configured taxonomy (details.topics)"
            + (f"; did you mean {hint!r}?" if hint else ""),
            {"category": body.category, "topics": [t.id for t in taxonomy.categories]},
        )

    def write(wh: Any) -> Any:
        try:
            return set_label(wh, taxonomy, key, body.category)
        except LabelError as exc:  # the topic was checked: an unknown session, nothing written
            hint = f"did you mean {exc.suggestion!r}?" if exc.suggestion else "run a sync first?"
            raise ApiError(
                404,
                f"no hub conversation or unified session {key!r} (a label names a session key of "
                f"unified.sessions; {hint})",
                {"sessionKey": key},
            ) from None

    label = api.store.write_warehouse(write)
    category = taxonomy.category_of(label.topic_id)
    return m.TopicLabelReply(
        label=m.TopicLabelOut(sessionKey=label.session_key, topic=label.topic_id, category=category),
        note="manual label: it wins for this session across re-syncs and --full-refresh; "
        "the default classifier learns from it at the next topicsync",
    )


@router.delete(
    "/topic/{topic_id}/label",
    response_model=m.TopicLabelDeletedReply,
    responses={404: {"model": m.ErrorReply}, 503: {"model": m.ErrorReply}},
)
def delete_label(api: State, _who: Write, topic_id: SessionKeyPathId) -> m.TopicLabelDeletedReply:
    """``chitty-sync topic unset KEY``: the session is classified again at the next topicsync."""
    from chitty_pipelines.unified.topic_labels import unset_label

    key = topic_id  # checked by the path pattern (a subagent's key holds '#')
    if not api.store.write_warehouse(lambda wh: unset_label(wh, key)):
        raise ApiError(404, f"session {key!r} has no manual topic label", {"sessionKey": key})
    return m.TopicLabelDeletedReply(
        sessionKey=key, removed=True, note="manual label removed; the next topicsync classifies it"
    )


@router.delete("/topic/{topic_id}", response_model=m.DeletedReply, responses={404: {"model": m.ErrorReply}})
def delete_topic(api: State, _who: Write, topic_id: PathId) -> m.DeletedReply:
    key = valid_id(topic_id, "conversation id")
    if not api.hub.delete_conversation(key):
        raise ApiError(404, f"conversation {key!r} not found", {"conversationId": key})
    return m.DeletedReply(deleted=True, note=f"conversation {key} removed")
