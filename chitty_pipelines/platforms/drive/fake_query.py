"""The two small languages of Drive v3 that the fake must understand: the ``q`` search query and
the ``fields`` partial-response selector.

Only the subset a sync uses is supported, but it is parsed properly (quoting, ``and``/``or``/
``not``, parentheses) so a client that combines several ``'<id>' in parents`` terms works.
An unsupported term raises ``QueryError``; the fake answers it with Drive's 400 envelope.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

Predicate = Callable[[dict[str, Any]], bool]


class QueryError(ValueError):
    pass


_TOKEN = re.compile(
    r"\s*(?:(?P<str>'(?:[^'\\]|\\.)*')|(?P<op>!=|<=|>=|=|<|>|\(|\))|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))"
)


def _tokens(q: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    q = q.rstrip()
    while pos < len(q):
        m = _TOKEN.match(q, pos)
        if not m or m.end() == pos:
            raise QueryError(f"Invalid Value at {pos}")
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "str":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        out.append((kind, text))
        pos = m.end()
    return out


class _Parser:
    def __init__(self, q: str):
        self.toks = _tokens(q)
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise QueryError("Invalid Value: unexpected end of query")
        self.i += 1
        return tok

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            raise QueryError(f"Invalid Value near {self.peek()[1]!r}")  # type: ignore[index]
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.peek() == ("word", "or"):
            self.take()
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda f: any(p(f) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.peek() == ("word", "and"):
            self.take()
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda f: all(p(f) for p in parts))

    def unary(self) -> Predicate:
        if self.peek() == ("word", "not"):
            self.take()
            inner = self.unary()
            return lambda f: not inner(f)
        if self.peek() == ("op", "("):
            self.take()
            inner = self.or_expr()
            if self.take() != ("op", ")"):
                raise QueryError("Invalid Value: missing )")
            return inner
        return self.term()

    def term(self) -> Predicate:
        kind, left = self.take()
        if kind == "str":  # '<value>' in parents | owners
            if self.take() != ("word", "in"):
                raise QueryError("Invalid Value: expected 'in'")
            _, field = self.take()
            if field == "parents":
                return lambda f: left in (f.get("parents") or [])
            if field == "owners":
                return lambda f: any(o.get("emailAddress") == left for o in f.get("owners") or [])
            raise QueryError(f"Invalid Value: unsupported collection {field}")
        if kind != "word":
            raise QueryError(f"Invalid Value near {left!r}")
        _, op = self.take()
        vkind, value = self.take()
        if left == "trashed":
            if vkind != "word" or value not in ("true", "false") or op not in ("=", "!="):
                raise QueryError("Invalid Value: trashed takes = true|false")
            want = value == "true"
            return (
                (lambda f: bool(f.get("trashed")) == want)
                if op == "="
                else (lambda f: bool(f.get("trashed")) != want)
            )
        if left in ("mimeType", "name", "modifiedTime", "createdTime") and vkind == "str":
            if op == "contains":
                return lambda f: value in str(f.get(left, ""))
            ops: dict[str, Callable[[Any, Any], bool]] = {
                "=": lambda a, b: a == b,
                "!=": lambda a, b: a != b,
                "<": lambda a, b: a < b,
                ">": lambda a, b: a > b,
                "<=": lambda a, b: a <= b,
                ">=": lambda a, b: a >= b,
            }
            if op not in ops:
                raise QueryError(f"Invalid Value: operator {op}")
            cmp = ops[op]
            return lambda f: cmp(str(f.get(left, "")), value)
        raise QueryError(f"Invalid Value: unsupported term {left} {op}")


def parse_query(q: str | None) -> Predicate:
    if not q or not q.strip():
        return lambda _f: True
    return _Parser(q).parse()


# --- fields ------------------------------------------------------------------------------------
FieldSpec = dict[str, "FieldSpec | None"]  # name -> nested selection (None: the whole value)


def parse_fields(fields: str) -> FieldSpec:
    """``nextPageToken,files(id,name,owners(emailAddress))`` -> nested dict; ``*`` selects all."""
    spec, rest = _parse_fields(fields.replace(" ", ""), 0)
    if rest != len(fields.replace(" ", "")):
        raise QueryError("Invalid field selection")
    return spec


def _parse_fields(s: str, i: int) -> tuple[FieldSpec, int]:
    spec: FieldSpec = {}
    while i < len(s):
        m = re.match(r"[A-Za-z_*][A-Za-z0-9_/]*", s[i:])
        if not m:
            raise QueryError(f"Invalid field selection at {i}")
        name = m.group(0)
        i += len(name)
        sub: FieldSpec | None = None
        if i < len(s) and s[i] == "(":
            sub, i = _parse_fields(s, i + 1)
            if i >= len(s) or s[i] != ")":
                raise QueryError("Invalid field selection: missing )")
            i += 1
        # a/b is shorthand for a(b)
        parts = name.split("/")
        node: FieldSpec | None = sub
        for part in reversed(parts[1:]):
            node = {part: node}
        spec[parts[0]] = node
        if i < len(s) and s[i] == ",":
            i += 1
            continue
        break
    return spec, i


def project(value: Any, spec: FieldSpec | None) -> Any:
    """Keep only the selected fields (lists are projected element by element)."""
    if spec is None or "*" in spec:
        return value
    if isinstance(value, list):
        return [project(v, spec) for v in value]
    if not isinstance(value, dict):
        return value
    return {k: project(value[k], sub) for k, sub in spec.items() if k in value}
