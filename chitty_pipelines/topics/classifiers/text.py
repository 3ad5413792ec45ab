"""Tokens, a light stemmer and word-boundary keyword matching, shared by the classifiers.

The original hub matched keywords as substrings, so "id" fired inside "valid" and "ai" inside
"maintain". Here a keyword matches only as whole words ("refresh token" as two consecutive
words), after a light suffix stemming so "tests", "testing" and "test" are one word.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from functools import lru_cache

_TOKEN = re.compile(r"[a-z0-9]+")
# Stripped repeatedly, longest first, while at least three letters remain: the stem only has to
# be the same for the forms of a word ("caching", "cached", "cache" -> "cach"), not a real word.
_SUFFIXES = ("ations", "ation", "ments", "ment", "ings", "ing", "ies", "ers", "er", "ed", "es", "s", "e")


@lru_cache(maxsize=65536)
def stem(word: str) -> str:
    changed = True
    while changed:
        changed = False
        for suffix in _SUFFIXES:
            if word.endswith(suffix) and len(word) - len(suffix) >= 3 and not word.endswith("ss"):
                word = word[: -len(suffix)] + ("y" if suffix == "ies" else "")
                changed = True
                break
    return word


def words(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def stems(text: str) -> list[str]:
    return [stem(w) for w in words(text)]


def analyzer(text: str) -> list[str]:
    """TF-IDF analyzer: stemmed unigrams and bigrams, minus a few words that carry no topic."""
    tokens = [stem(w) for w in words(text) if w not in _STOP and len(w) > 1]
    return tokens + [f"{a} {b}" for a, b in itertools.pairwise(tokens)]


class KeywordMatcher:
    """Finds which of a fixed set of keywords occur in a text as whole (stemmed) words."""

    def __init__(self, keywords: Iterable[str]):
        self._by_first: dict[str, list[tuple[tuple[str, ...], str]]] = {}
        for keyword in set(keywords):
            seq = tuple(stems(keyword))
            if seq:
                self._by_first.setdefault(seq[0], []).append((seq, keyword))

    def matches(self, text: str) -> dict[str, int]:
        """keyword -> number of occurrences."""
        tokens = stems(text)
        found: dict[str, int] = {}
        for i, token in enumerate(tokens):
            for seq, keyword in self._by_first.get(token, ()):
                if tuple(tokens[i : i + len(seq)]) == seq:
                    found[keyword] = found.get(keyword, 0) + 1
        return found


# English function words plus words every session uses ("please", "want"); the vectorizer only
# knows the taxonomy's vocabulary anyway, so this list stays short.
_STOP_WORDS = """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers him his how i if in into is it its itself just
    let lets me more most my no nor not now of off on once only or other our ours out over own
    please same she should so some such than that the their them then there these they this those
    through to too under until up us very was we were what when where which while who whom why
    will with would you your yours want need like make sure one two get got way"""
_STOP = frozenset(_STOP_WORDS.split())
