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
_TEMP_AS = re.compile(r"^(CREATE TEMPORARY TABLE (?:IF NOT EXISTS )?[^\s(]+) AS ")
_CAST_PARAM = re.compile(r"\?::([A-Za-z_]+(?:\[\])?)")


def _order_by_all(select):
    """ORDER BY ALL: by every column, left to right (a whole-row sort when the list is ``*``)."""
    from sqlglot import exp

    order = select.args.get("order")
    if not order or len(order.expressions) != 1:
        return select
    only = order.expressions[0]
    if not (isinstance(only.this, exp.Var) and only.this.name.upper() == "ALL"):
        return select
    desc = only.args.get("desc")
    if not any(isinstance(p, exp.Star) for p in select.expressions):
        numbers = [
            exp.Ordered(this=exp.Literal.number(i), desc=desc) for i in range(1, len(select.expressions) + 1)
        ]
        select.set("order", exp.Order(expressions=numbers))
        return select
    inner = select.copy()
    inner.set("order", None)
    wrapped = exp.Subquery(this=inner, alias=exp.TableAlias(this=exp.to_identifier("_all")))
    return exp.select("*").from_(wrapped).order_by(exp.Ordered(this=exp.column("_all"), desc=desc))


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

    if isinstance(node, exp.Subquery) and not node.alias and isinstance(node.parent, exp.From | exp.Join):
        # PostgreSQL before 16 wants every subquery in FROM named
        node.set("alias", exp.TableAlias(this=exp.to_identifier(f"_s{id(node) % 100000}")))
        return node
    if isinstance(node, exp.Select):
        return _order_by_all(_group_by_all(node))
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
    rewritten = _functions(node)
    if rewritten is not None:
        return rewritten
    if isinstance(node, exp.DataType) and node.this == exp.DataType.Type.JSON:
        if isinstance(node.parent, exp.ColumnDef):
            return exp.DataType.build("text")
        return node
    if isinstance(node, exp.JSONExtract | exp.JSONExtractScalar) and isinstance(
        node.expression, exp.JSONPath
    ):
        # DuckDB's JSON functions, as helpers of migration 4 (text in, DuckDB's answers out)
        path = exp.Literal.string(node.expression.sql(dialect="duckdb").strip("'"))
        doc = exp.cast(node.this.copy(), exp.DataType.build("text"))
        if isinstance(node, exp.JSONExtractScalar):
            return _call("ops.json_extract_string", doc, path)
        name = "ops.json_extract_list" if path.name.endswith("[*]") else "ops.json_extract"
        return _call(name, doc, path)
    if isinstance(node, exp.Explode) and _is_call(node.this, "ops.json_extract_list"):
        return exp.Unnest(expressions=[node.this.copy()])
    if isinstance(node, exp.TryCast):
        to = node.to.this
        if to == exp.DataType.Type.JSON:
            return _call("ops.try_json", exp.cast(node.this.copy(), exp.DataType.build("text")))
        if to in (exp.DataType.Type.TIMESTAMPTZ, exp.DataType.Type.TIMESTAMP):
            return _call("ops.try_timestamptz", exp.cast(node.this.copy(), exp.DataType.build("text")))
        return exp.cast(node.this.copy(), node.to.copy())
    if (
        isinstance(node, exp.Cast)
        and _is_call(node.this, "ops.json_extract")
        and node.to.this
        not in (
            exp.DataType.Type.JSON,
            exp.DataType.Type.TEXT,
            exp.DataType.Type.VARCHAR,
        )
    ):
        # json has no cast to numbers in PostgreSQL: through its text
        node.set("this", exp.cast(node.this.copy(), exp.DataType.build("text")))
        return node
    if isinstance(node, exp.EQ) and any(_is_json(side) for side in (node.this, node.expression)):
        # json has no equality operator in PostgreSQL: compare the JSON texts
        return exp.EQ(
            this=exp.cast(node.this.copy(), exp.DataType.build("text")),
            expression=exp.cast(node.expression.copy(), exp.DataType.build("text")),
        )
    return node


_STRFTIME = {
    "Y": "YYYY",
    "m": "MM",
    "d": "DD",
    "H": "HH24",
    "M": "MI",
    "S": "SS",
    "f": "US",
    "z": "OF",
    "j": "DDD",
}


def _to_char_format(fmt: str) -> str:
    """A strftime format as to_char's: literal text double-quoted (to_char reads "TH" in
    "DDTHH" as an ordinal suffix otherwise)."""
    out, literal, i = [], "", 0
    while i < len(fmt):
        if fmt[i] == "%" and i + 1 < len(fmt) and fmt[i + 1] in _STRFTIME:
            if literal:
                out.append('"' + literal.replace('"', '\\"') + '"')
                literal = ""
            out.append(_STRFTIME[fmt[i + 1]])
            i += 2
        else:
            literal += fmt[i]
            i += 1
    if literal:
        out.append('"' + literal.replace('"', '\\"') + '"')
    return "".join(out)


def _is_call(node, name: str) -> bool:
    from sqlglot import exp

    return isinstance(node, exp.Anonymous) and node.name.lower() == name


def _is_json(node) -> bool:
    from sqlglot import exp

    if isinstance(node, exp.Cast) and node.to.this == exp.DataType.Type.JSON:
        return True
    return _is_call(node, "ops.json_extract")


def _call(name: str, *args):
    from sqlglot import exp

    return exp.Anonymous(this=name, expressions=list(args))


def _functions(node):
    """DuckDB functions PostgreSQL lacks: a portable expression, or a helper function that
    migration 3 creates in the ``ops`` schema (first/last aggregates, list_sort, json_type...)."""
    from sqlglot import exp

    if isinstance(node, exp.First | exp.Last):
        return _call(f"ops.{type(node).__name__.lower()}", node.this.copy())
    if isinstance(node, exp.Array) and not node.expressions:
        # [] has no type in PostgreSQL; the literal '{}' takes the type of its context
        return exp.Literal.string("{}")
    if isinstance(node, exp.TimeToStr) and isinstance(node.args.get("format"), exp.Literal):
        fmt = exp.Literal.string(_to_char_format(node.args["format"].name))
        return _call("to_char", node.this.copy(), fmt)
    if isinstance(node, exp.IsNan):
        return exp.EQ(
            this=node.this.copy(), expression=exp.cast(exp.Literal.string("NaN"), "double precision")
        )
    if isinstance(node, exp.Length):
        return _call("ops.len", node.this.copy())
    if isinstance(node, exp.ArraySort):
        return _call("ops.list_sort", node.this.copy())
    if isinstance(node, exp.Split):
        return _call("string_to_array", node.this.copy(), node.expression.copy())
    if isinstance(node, exp.JSONType):
        return _call("ops.json_type", node.this.copy())
    if isinstance(node, exp.Transform) and isinstance(node.expression, exp.Lambda):
        lam = node.expression
        var = lam.expressions[0].name
        body = lam.this.copy().transform(
            lambda n: (
                exp.column(var)
                if isinstance(n, exp.Identifier) and n.name == var and not isinstance(n.parent, exp.Column)
                else n
            )
        )
        sub = exp.select(body).from_(
            exp.Unnest(
                expressions=[node.this.copy()],
                alias=exp.TableAlias(this=exp.to_identifier("_l"), columns=[exp.to_identifier(var)]),
            )
        )
        return exp.Array(expressions=[sub])
    if isinstance(node, exp.RegexpExtract):
        group = node.args.get("group")
        g = int(group.name) if group is not None else 0
        pattern = node.expression.copy()
        if g == 0:
            pattern = exp.DPipe(
                this=exp.DPipe(this=exp.Literal.string("("), expression=pattern),
                expression=exp.Literal.string(")"),
            )
            g = 1
        match = exp.Bracket(
            this=exp.Paren(this=_call("regexp_match", node.this.copy(), pattern)),
            expressions=[exp.Literal.number(g - 1)],  # sqlglot shifts DuckDB indexes by one
        )
        # DuckDB answers '' when nothing matches (NULL only for a NULL input)
        return exp.Case(
            ifs=[exp.If(this=exp.Is(this=node.this.copy(), expression=exp.Null()), true=exp.Null())],
            default=_call("coalesce", match, exp.Literal.string("")),
        )
    if isinstance(node, exp.Anonymous):
        name = node.name.lower()
        arg = node.expressions[0] if node.expressions else None
        if (
            name == "to_json"
            and isinstance(arg, exp.Map)
            and isinstance(arg.args.get("keys"), exp.ArrayAgg)
            and isinstance(arg.args.get("values"), exp.ArrayAgg)
        ):
            # to_json(map(list(k ORDER BY ..), list(v ORDER BY ..))): one JSON object per group
            def plain(agg):
                inner = agg.this
                return (inner.this if isinstance(inner, exp.Order) else inner).copy()

            return _call("jsonb_object_agg", plain(arg.args["keys"]), plain(arg.args["values"]))
        if name == "to_seconds":
            return _call(
                "make_interval", exp.Kwarg(this=exp.var("secs"), expression=node.expressions[0].copy())
            )
        if name == "epoch_us":
            micros = exp.Mul(
                this=exp.Extract(this=exp.var("epoch"), expression=node.expressions[0].copy()),
                expression=exp.Literal.number(1000000),
            )
            return exp.cast(_call("round", micros), exp.DataType.build("bigint"))
        if name == "make_timestamptz" and len(node.expressions) == 1:
            return _call("ops.make_timestamptz", node.expressions[0].copy())
        if name in ("json_valid",):
            return _call(f"ops.{name}", *[e.copy() for e in node.expressions])
    return None


def _mark_placeholders(tree, first: int = 0) -> list[str | None]:
    """Replace every placeholder with a unique named one; returns their names (None: positional)."""
    from sqlglot import exp

    found: list[str | None] = []
    for node in list(tree.find_all(exp.Placeholder, exp.Parameter)):
        if isinstance(node, exp.Parameter):
            name = node.name
        else:
            name = node.name if node.name and node.name != "?" else None
        node.replace(exp.Placeholder(this=_PH.format(first + len(found))))
        found.append(name)
    return found


# Statements both databases read alike need no transpiling: loading sqlglot is ~0.4-0.8 s of
# every step process, and the bookkeeping queries of a sync (cursor, catalog, row count) are all
# of this kind. A statement is plain when it is one SELECT, DELETE or CREATE SCHEMA made only of
# the tokens below: quoted or ordinary identifiers, a few keywords and functions, ``?``
# placeholders, numbers, and string literals without ``%`` or backslashes. Anything else (types,
# casts, other functions, DuckDB's own keywords) goes through sqlglot.
_PLAIN_TOKEN = re.compile(
    r"""\s+|"[A-Za-z_][A-Za-z0-9_]*"|'[^'\\%]*'|[A-Za-z_][A-Za-z0-9_]*|[0-9]+|<=|>=|<>|[?(),.*=<>]"""
)
_PLAIN_START = re.compile(r"^\s*(SELECT|DELETE\s+FROM|CREATE\s+SCHEMA\s+IF\s+NOT\s+EXISTS)\b", re.IGNORECASE)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


_PLAIN_KEYWORDS = _words(
    "select from where and or not is null in as order by asc limit offset distinct delete "
    "create schema if exists true false"
)
_PLAIN_FUNCTIONS = _words("count min max")
# Words that are keywords, types or functions in one of the two dialects: never plain identifiers
# (``desc``: PostgreSQL sorts NULLs first there, DuckDB last; sqlglot adds NULLS LAST).
_NOT_PLAIN = _words(
    "all any some qualify exclude replace sample using pivot unpivot asof positional columns struct "
    "list map union intersect except window over filter interval temp temporary table with "
    "recursive lateral join on group having case when then else end cast try_cast glob similar "
    "like ilike escape collate array row semi anti natural cross full left right inner outer "
    "returning default values into insert update set drop alter between nulls first last desc "
    "current_date current_time current_timestamp localtime localtimestamp now rowid timestamp "
    "timestamptz date time varchar text json blob bigint integer int double real boolean decimal "
    "numeric hugeint uuid"
)


def _plain(sql: str) -> tuple[tuple[str, int, bool], ...] | None:
    """``sql`` for psycopg without sqlglot when it is plain (see above), else None."""
    if not _PLAIN_START.match(sql):
        return None
    tokens = _PLAIN_TOKEN.findall(sql)
    if sum(map(len, tokens)) != len(sql):
        return None  # a character no token covers: `;`, `::`, `$name`, `%`, `||`, ...
    words = [t for t in tokens if not t.isspace()]
    for i, t in enumerate(words):
        if not (t[0].isalpha() or t[0] == "_"):
            continue
        word = t.lower()
        before_paren = i + 1 < len(words) and words[i + 1] == "("
        if word in _PLAIN_KEYWORDS:
            if word == "from" and before_paren:
                return None  # a subquery in FROM needs a name on PostgreSQL before 16
            continue
        if before_paren:
            if word not in _PLAIN_FUNCTIONS:
                return None  # a call of another function
        elif (word in _NOT_PLAIN or word in _PLAIN_FUNCTIONS) and (i == 0 or words[i - 1] != "."):
            return None  # after a dot it is a name: information_schema.columns
    placeholders = words.count("?")
    text = "".join("%s" if t == "?" else t for t in tokens)
    return ((text, placeholders, placeholders > 0),)


@functools.lru_cache(maxsize=4096)
def to_postgres_statements(sql: str) -> tuple[tuple[str, int, bool], ...]:
    """``sql`` (DuckDB dialect, ``?``/``$name`` parameters) as PostgreSQL statements for psycopg:
    (text, positional parameters it takes, takes parameters at all) each. One DuckDB statement
    can become two (CREATE OR REPLACE TABLE), and psycopg runs one statement per call when
    parameters are bound."""
    plain = _plain(sql)
    return plain if plain is not None else transpile(sql)


def transpile(sql: str) -> tuple[tuple[str, int, bool], ...]:
    """``to_postgres_statements`` through sqlglot (every statement that is not plain)."""
    import sqlglot
    from sqlglot import exp

    statements = []
    names: list[str | None] = []
    sql = _CAST_PARAM.sub(r"CAST(? AS \1)", sql)  # sqlglot cannot parse ?::TYPE
    for tree in sqlglot.parse(sql, read="duckdb"):
        if tree is None:
            continue
        # a replaced node's arguments are not visited again: repeat until nothing changes
        before = None
        for _ in range(4):
            tree = tree.transform(_rewrite)
            after = tree.sql(dialect="postgres")
            if after == before:
                break
            before = after
        if isinstance(tree, exp.Create) and tree.args.get("replace") and tree.kind == "TABLE":
            # CREATE OR REPLACE TABLE: PostgreSQL has only DROP + CREATE
            tree.set("replace", False)
            statements.append((f"DROP TABLE IF EXISTS {tree.this.sql(dialect='postgres')}", 0, False))
        first = len(names)
        names.extend(_mark_placeholders(tree, first))
        text = tree.sql(dialect="postgres")
        # temp tables end with the transaction: no session state left behind a pooler (PgBouncer
        # in transaction mode hands the session to another client after COMMIT)
        text = _TEMP_AS.sub(r"\1 ON COMMIT DROP AS ", text, count=1)
        mine = names[first:]
        if mine:
            text = text.replace("%", "%%")
            for i, name in enumerate(mine, start=first):
                text = text.replace(f"%%({_PH.format(i)})s", f"%({name})s" if name else "%s")
        statements.append((text, sum(1 for n in mine if n is None), bool(mine)))
    return tuple(statements)


def to_postgres(sql: str) -> str:
    """The PostgreSQL text of ``sql`` (statements joined by ``;``)."""
    return ";\n".join(text for text, _, _ in to_postgres_statements(sql))


def named(sql: str) -> bool:
    return bool(re.search(r"%\([A-Za-z_][A-Za-z0-9_]*\)s", sql))
