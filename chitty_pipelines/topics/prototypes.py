"""The hand-written prototypes of each topic (prototypes.yaml): vocabulary and example sessions
the default classifier learns from. Written from general knowledge; evaluation sets never feed it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import yaml

from chitty_pipelines.topics.taxonomy import Taxonomy


@dataclass(frozen=True)
class Example:
    """A text known to be about ``topic_id`` (a top-level topic of the taxonomy in use)."""

    text: str
    topic_id: str
    source: str  # "prototype", "taxonomy" or "label:<session_key>"


def default_prototypes_path() -> Path:
    return Path(str(resources.files("chitty_pipelines.topics") / "prototypes.yaml"))


@lru_cache(maxsize=4)
def _document(path: str) -> dict:
    # libyaml's loader when present: the same documents, ~10x faster than the pure-Python one
    # (0.13 s of every classifier fit).
    return yaml.load(Path(path).read_text(), Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}


def prototypes_version(path: Path | None = None) -> int:
    """The prototypes' ``version``: part of the default classifier's label, so that sessions
    classified by an earlier version are classified again after an upgrade."""
    return int(_document(str(path or default_prototypes_path())).get("version") or 1)


@lru_cache(maxsize=4)
def _load(path: str) -> dict[str, dict]:
    topics = _document(path).get("topics") or {}
    out: dict[str, dict] = {}
    for topic_id, entry in topics.items():
        out[str(topic_id)] = entry
        for alias in entry.get("aliases") or []:
            out.setdefault(str(alias), entry)
    return out


def prototype_examples(taxonomy: Taxonomy, path: Path | None = None) -> list[Example]:
    """Training texts per top-level topic: each prototype example sentence, the topic's vocabulary
    as one text, and its taxonomy entry (name, description, keywords) so that a custom taxonomy
    without prototypes still works. Subcategories count for their parent."""
    protos = _load(str(path or default_prototypes_path()))
    out: list[Example] = []
    for topic in taxonomy.topics:
        category = taxonomy.category_of(topic.id)
        entry = protos.get(topic.id) or {}
        out.extend(Example(str(t), category, "prototype") for t in entry.get("examples") or [])
        terms = [str(t) for t in entry.get("terms") or []]
        if terms:
            out.append(Example(", ".join(terms), category, "prototype"))
        described = f"{topic.name}. {topic.description} {', '.join(topic.keywords)}".strip()
        out.append(Example(described, category, "taxonomy"))
    return out
