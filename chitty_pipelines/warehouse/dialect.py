"""SQL written once, in DuckDB's dialect, run on PostgreSQL: transpiled by sqlglot at the backend
boundary, once per distinct statement (a per-process cache; the statements are few and fixed).

sqlglot already rewrites QUALIFY (a subquery with the window), list functions (``list`` ->
``array_agg``), JSON extraction and the types. What it leaves to us, in ``_rewrite``:

* ``GROUP BY ALL`` (PostgreSQL 19+ only): grouped by every select item that is no aggregate;
* ``hash(a, b, ...)`` (DuckDB's 64-bit hash, used for change fingerprints only, never stored
  across backends): ``hashtextextended`` over the values as text, NULL kept distinct;
* ``JSON`` columns are ``TEXT`` on PostgreSQL (DuckDB hands JSON back as text, and an
  ``INSERT ... SELECT`` of text into ``json`` fails), so JSON functions cast their input;
* placeholders: ``?`` and ``$name`` become psycopg's ``%s`` / ``%(name)s``; a literal ``%`` is
  doubled when the statement has parameters.
"""

from __future__ import annotations

import functools
import re

_PH = "__chitty_ph_{}__"


def _group_by_all(select):
    from sqlglot import exp

    group = select.args.get("group")
    if not group or not group.args.get("all"):
        return select
    items = []
    for i, projection in enumerate(select.expressions, start=1):
        inner = projection.this if isinstance(projection, exp.Alias) else projection
        if not inner.find(exp.AggFunc) and not isinstance(inner, exp.Star):
            items.append(exp.Literal.number(i))
    select.set("group", exp.Group(expressions=items) if items else None)
    return select


def _rewrite(node):
    from sqlglot import exp

    if isinstance(node, exp.Select):
        return _group_by_all(node)
    if isinstance(node, exp.Anonymous) and node.name.lower() == "hash":
        # Anonymous calls: sqlglot would otherwise "fix" concat_ws's NULL semantics for us
        parts = [
            exp.Anonymous(
                this="coalesce",
                expressions=[exp.cast(arg.copy(), exp.DataType.build("text")), exp.Literal.string("\\N")],
            )
            for arg in node.expressions
        ]
        sep = exp.Anonymous(this="chr", expressions=[exp.Literal.number(31)])
        text = exp.Anonymous(this="concat_ws", expressions=[sep, *parts]) if len(parts) > 1 else parts[0]
        return exp.Anonymous(this="hashtextextended", expressions=[text, exp.Literal.number(0)])
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.JSON:
        if isinstance(node.parent, exp.ColumnDef):
            return exp.DataType.build("text")
        return node
    if isinstance(node, exp.JSONExtract | exp.JSONExtractScalar):
        target = node.this
        if not isinstance(target, exp.Cast):
            node.set("this", exp.cast(target.copy(), exp.DataType.build("json")))
        return node
    return node


def _mark_placeholders(tree) -> list[str | None]:
    """Replace every placeholder with a unique named one; returns their names (None: positional)."""
    from sqlglot import exp

    found: list[str | None] = []
    for node in list(tree.find_all(exp.Placeholder, exp.Parameter)):
        if isinstance(node, exp.Parameter):
            name = node.name
        else:
            name = node.name if node.name and node.name != "?" else None
        node.replace(exp.Placeholder(this=_PH.format(len(found))))
        found.append(name)
    return found


@functools.lru_cache(maxsize=4096)
def to_postgres(sql: str) -> str:
    """``sql`` (DuckDB dialect, ``?``/``$name`` parameters) as PostgreSQL for psycopg."""
    import sqlglot

    statements = []
    names: list[str | None] = []
    for tree in sqlglot.parse(sql, read="duckdb"):
        if tree is None:
            continue
        tree = tree.transform(_rewrite)
        names.extend(_mark_placeholders(tree))
        statements.append(tree.sql(dialect="postgres"))
    out = ";\n".join(statements)
    if not names:
        return out
    out = out.replace("%", "%%")
    for i, name in enumerate(names):
        out = out.replace(f"%%({_PH.format(i)})s", f"%({name})s" if name else "%s")
    return out


def named(sql: str) -> bool:
    return bool(re.search(r"%\([A-Za-z_][A-Za-z0-9_]*\)s", sql))
