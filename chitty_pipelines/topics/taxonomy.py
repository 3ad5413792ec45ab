"""The topic taxonomy as data: a YAML file of topics (id, name, description, keywords, parent).

The packaged default holds the ChittyOS topics; ``CHITTY_TOPIC_TAXONOMY`` points at another file
of the same shape. A topic with a parent is a subcategory of it; only one level is allowed, so
"category" and "subcategory" keep a plain meaning in the tables and the UI.
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

_ID = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")


class TaxonomyError(ValueError):
    pass


@dataclass(frozen=True)
class Topic:
    id: str
    name: str
    description: str
    keywords: tuple[str, ...]
    parent: str | None = None

    @property
    def is_category(self) -> bool:
        return self.parent is None


@dataclass(frozen=True)
class Taxonomy:
    topics: tuple[Topic, ...]
    source: str  # where it was read from, for metadata
    fingerprint: str  # sha1 of the file: a changed taxonomy re-classifies every session
    _by_id: dict[str, Topic] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({t.id: t for t in self.topics})

    def __getitem__(self, topic_id: str) -> Topic:
        return self._by_id[topic_id]

    def __contains__(self, topic_id: object) -> bool:
        return topic_id in self._by_id

    @property
    def ids(self) -> list[str]:
        return [t.id for t in self.topics]

    @property
    def categories(self) -> list[Topic]:
        return [t for t in self.topics if t.is_category]

    def children(self, topic_id: str) -> list[Topic]:
        return [t for t in self.topics if t.parent == topic_id]

    def suggest(self, given: str) -> str | None:
        """The topic a user most likely meant by an unknown ``given``: an id or a name in other
        case ('Testing', 'documentation' for docs), else None. Only a hint: ids stay exact."""
        wanted = " ".join(given.split()).lower()
        for t in self.topics:
            if wanted in (t.id, t.name.lower()):
                return t.id
        return None

    def category_of(self, topic_id: str) -> str:
        """The top-level topic a topic belongs to (itself for a category)."""
        topic = self._by_id[topic_id]
        return topic.parent or topic.id


def default_taxonomy_path() -> Path:
    return Path(str(resources.files("chitty_pipelines.topics") / "taxonomy.yaml"))


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Read and validate a taxonomy: ``path``, else ``CHITTY_TOPIC_TAXONOMY``, else the default."""
    # Here, not at the top: config imports Dagster (~1.5 s), which the MiniLM encoder's worker
    # processes (classifiers/sentence_embed.py) import this package without needing.
    from chitty_pipelines import config

    chosen = Path(path) if path else None
    if chosen is None and config.env("CHITTY_TOPIC_TAXONOMY"):
        chosen = Path(config.env("CHITTY_TOPIC_TAXONOMY") or "").expanduser()
    chosen = chosen or default_taxonomy_path()
    try:
        raw = chosen.read_bytes()
    except OSError as exc:
        # from None: a run prints the innermost cause, which would drop the variable's name
        raise TaxonomyError(f"cannot read taxonomy {chosen} (CHITTY_TOPIC_TAXONOMY): {exc}") from None
    return _parse_cached(raw, str(chosen))


@functools.lru_cache(maxsize=8)
def _parse_cached(raw: bytes, source: str) -> Taxonomy:
    # Every unified step and check loads the taxonomy; the parsed, frozen result is shared.
    return parse_taxonomy(raw, source=source)


def parse_taxonomy(raw: bytes | str, source: str = "<string>") -> Taxonomy:
    # libyaml's C loader when the wheel has it (it does on the usual platforms): ~10x faster.
    try:
        data = yaml.load(raw, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        # PyYAML names the input "<byte string>": say which file, and where in it.
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise TaxonomyError(f"{source}: not valid YAML{where}: {problem} (CHITTY_TOPIC_TAXONOMY)") from None
    items = data.get("topics") if isinstance(data, dict) else None
    if not isinstance(items, list) or not items:
        raise TaxonomyError(f"{source}: expected a mapping with a non-empty 'topics' list")
    topics: list[Topic] = []
    seen: set[str] = set()
    for n, item in enumerate(items):
        if not isinstance(item, dict):
            raise TaxonomyError(f"{source}: topic #{n} is not a mapping")
        topic_id = str(item.get("id", ""))
        if not _ID.match(topic_id):
            raise TaxonomyError(f"{source}: topic #{n}: id {topic_id!r}: use lowercase letters, digits, _, -")
        if topic_id in seen:
            raise TaxonomyError(f"{source}: topic id {topic_id!r} appears twice")
        seen.add(topic_id)
        keywords = item.get("keywords") or []
        if not isinstance(keywords, list):
            raise TaxonomyError(f"{source}: topic {topic_id!r}: keywords must be a list")
        topics.append(
            Topic(
                id=topic_id,
                name=str(item.get("name") or topic_id),
                description=" ".join(str(item.get("description") or "").split()),
                keywords=tuple(str(k).strip().lower() for k in keywords if str(k).strip()),
                parent=str(item["parent"]) if item.get("parent") else None,
            )
        )
    by_id = {t.id: t for t in topics}
    for t in topics:
        if t.parent is None:
            continue
        if t.parent not in by_id:
            raise TaxonomyError(f"{source}: topic {t.id!r} has unknown parent {t.parent!r}")
        if by_id[t.parent].parent is not None:
            raise TaxonomyError(f"{source}: topic {t.id!r}: subcategories cannot have subcategories")
    text = raw.encode() if isinstance(raw, str) else raw
    return Taxonomy(tuple(topics), source, hashlib.sha1(text).hexdigest()[:16])
