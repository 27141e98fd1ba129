"""The store's SQL, as PostgreSQL reads it: a small, cached, mechanical translation.

The store writes SQL that SQLite runs; most of it is standard SQL that PostgreSQL
runs unchanged. What is left is translated here, token by token outside string
literals, never by understanding a query:

- ``?`` placeholders become ``%s``, ``:name`` ``%(name)s`` (a literal ``%`` ``%%``);
- a blob literal ``X'..'`` becomes ``'\\x..'::bytea``;
- ``INSERT OR IGNORE INTO ...`` becomes ``INSERT INTO ... ON CONFLICT DO NOTHING``;
- types: ``BLOB`` is ``BYTEA``, ``INTEGER`` is ``BIGINT`` (SQLite's integers are 64-bit),
  ``INTEGER PRIMARY KEY`` an identity column, and every table gains a ``rowid`` column
  (SQLite gives every table one; ``store/period_keys.py`` and ``store/search_texts.py``
  use it as a handle and as an order of insertion); ``WITHOUT ROWID`` and
  ``AUTOINCREMENT`` are dropped;
- SQLite's functions: ``json_extract(x, '$.a')`` is ``(x::jsonb ->> 'a')``,
  ``json_each(x)`` is ``jsonb_array_elements(x::jsonb)``, ``instr`` is ``strpos``,
  ``strftime('%s', t)`` is ``exchange_epoch(t)`` (``EPOCH_FUNCTION``, immutable, so
  that an index may use it), a two-argument ``MAX``/``MIN`` is
  ``GREATEST``/``LEAST``, ``group_concat`` is ``string_agg``;
- ``LIKE`` is ``ILIKE`` (SQLite's LIKE ignores ASCII case); an empty ``IN ()`` list is
  an empty array; SQLite's planner hints (a unary ``+``, ``CROSS JOIN ... ON``, ``INDEXED BY``) go;
- ``SUM`` of a comparison uses ``BOOL_SUM``, an aggregate this engine adds, and
  ``CAST(x AS TEXT)`` ``exchange_text`` (``TEXT_CAST``: a blob's bytes as UTF-8);
- ``PRAGMA`` statements are SQLite's own: they are not sent (see ``pg.py``).

A statement is translated once and cached: the store's statements are constants.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# SQLite's strftime('%s', t) of an ISO 8601 UTC time. The text -> timestamp cast is only
# STABLE (it reads DateStyle), but of ISO text its result never changes: IMMUTABLE, so
# that migration 6's index may use it.
EPOCH_FUNCTION = """CREATE OR REPLACE FUNCTION exchange_epoch(t TEXT) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS 'SELECT CAST(EXTRACT(EPOCH FROM CAST(t AS TIMESTAMP)) AS BIGINT)'"""

# SQLite sums comparisons (true is 1); PostgreSQL has no SUM(boolean) of its own. NULLs
# are skipped and an empty set sums to NULL, as SQLite's SUM does.
BOOL_SUM = [
    """CREATE OR REPLACE FUNCTION exchange_bool_add(s BIGINT, v BOOLEAN) RETURNS BIGINT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS 'SELECT CASE WHEN v IS NULL THEN s ELSE COALESCE(s, 0) + CAST(v AS INT) END'""",
    "CREATE OR REPLACE AGGREGATE sum(BOOLEAN) (SFUNC = exchange_bool_add, STYPE = BIGINT)",
]

# SQLite's CAST(x AS TEXT) of a blob is its bytes as UTF-8 text; PostgreSQL's of a
# BYTEA is its hex escape. One name, the blob's overload chosen by type.
TEXT_CAST = [
    """CREATE OR REPLACE FUNCTION exchange_text(v ANYELEMENT) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT CAST(v AS TEXT)'""",
    """CREATE OR REPLACE FUNCTION exchange_text(v BYTEA) RETURNS TEXT
    LANGUAGE sql IMMUTABLE PARALLEL SAFE AS 'SELECT convert_from(v, ''UTF8'')'""",
]

# statements that change rows (counted in total_changes, serialised by the write lock)
_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "ALTER", "DROP", "WITH")


@dataclass(frozen=True)
class Statement:
    """One SQLite statement as PostgreSQL runs it."""

    sql: str
    # "begin", "savepoint", "release", "rollback_to", "pragma", "write" or "read"
    kind: str


_BYTES = re.compile(r"\bX'([0-9A-Fa-f]*)'")  # SQLite's blob literal


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> Statement:
    head = sql.lstrip().split(None, 1)[0].upper() if sql.strip() else ""
    if head == "BEGIN":
        return Statement("BEGIN", "begin")
    if head == "PRAGMA":
        return Statement(sql, "pragma")
    if head in ("SAVEPOINT", "RELEASE") or re.match(r"\s*ROLLBACK\s+TO\b", sql, re.I):
        return Statement(sql, head.lower() if head != "ROLLBACK" else "rollback_to")
    text = _code(_BYTES.sub(r"'\\x\1'::bytea", rewrite_calls(sql)), _translate_code)
    if head == "CREATE" and re.match(r"\s*CREATE\s+TABLE", sql, re.IGNORECASE):
        text = _table(text)
    kind = "write" if head in _WRITES else "read"
    if re.match(r"\s*INSERT\s+OR\s+IGNORE", sql, re.IGNORECASE):
        text = _ignore(text)
    return Statement(text, kind)


def _code(sql: str, fn: object) -> str:
    """``fn`` applied to the parts of ``sql`` outside string literals."""
    parts = re.split(r"('(?:[^']|'')*')", sql)
    out = []
    for i, part in enumerate(parts):
        if i % 2:
            out.append(part.replace("%", "%%"))
        else:
            out.append(fn(part))  # type: ignore[operator]
    return "".join(out)


def _translate_code(code: str) -> str:
    code = code.replace("%", "%%").replace("?", "%s")
    code = re.sub(r"(?<![:\w]):([A-Za-z_]\w*)", r"%(\1)s", code)  # named parameters
    code = re.sub(r"\bBLOB\b", "BYTEA", code, flags=re.IGNORECASE)
    code = re.sub(
        r"\bINTEGER\s+PRIMARY\s+KEY(\s+AUTOINCREMENT)?",
        "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        code,
        flags=re.IGNORECASE,
    )
    code = re.sub(r"\bINTEGER\b", "BIGINT", code, flags=re.IGNORECASE)
    code = re.sub(r"\)\s*WITHOUT\s+ROWID", ")", code, flags=re.IGNORECASE)
    code = re.sub(r"\bINSERT\s+OR\s+IGNORE\b", "INSERT", code, flags=re.IGNORECASE)
    code = re.sub(r"\binstr\(", "strpos(", code, flags=re.IGNORECASE)
    code = re.sub(r"(?<![\w.])LIKE\b", "ILIKE", code, flags=re.IGNORECASE)
    # a unary + (a planner hint to SQLite: "no index for this column") on text
    code = re.sub(
        r"((?:\b(?:AND|OR|WHERE|BY|ON)\b|[(,])\s*)\+(?=[A-Za-z_])", r"\1", code, flags=re.I
    )
    code = re.sub(r"\s+(?:INDEXED\s+BY\s+\w+|NOT\s+INDEXED)\b", "", code, flags=re.I)
    # CROSS JOIN ... ON (SQLite's hint to keep the join order) is an inner join
    code = re.sub(
        r"\bCROSS\s+JOIN\b(?=\s+\w+(?:\s+AS)?(?:\s+\w+)?\s+ON\b)", "JOIN", code, flags=re.I
    )
    # SQLite accepts an empty list: nothing is IN it, everything NOT IN it
    code = re.sub(r"\bNOT\s+IN\s*\(\s*\)", "<> ALL('{}')", code, flags=re.I)
    code = re.sub(r"\bIN\s*\(\s*\)", "= ANY('{}')", code, flags=re.I)
    return code


def _table(text: str) -> str:
    """Every table gets SQLite's implicit ``rowid`` (not a key: a handle and an order)."""
    if re.search(r"\browid\b", text, re.IGNORECASE) or " AS SELECT" in text.upper():
        return text
    end = text.rstrip().rfind(")")
    return text[:end].rstrip() + ",\n    rowid BIGINT GENERATED BY DEFAULT AS IDENTITY" + text[end:]


def _ignore(text: str) -> str:
    """``ON CONFLICT DO NOTHING`` at the end of the INSERT (before any RETURNING)."""
    match = re.search(r"\bRETURNING\b", text, re.IGNORECASE)
    if match:
        return text[: match.start()] + "ON CONFLICT DO NOTHING " + text[match.start() :]
    return text.rstrip().rstrip(";") + " ON CONFLICT DO NOTHING"


# Functions whose arguments must be parsed (balanced parentheses, literals kept).
_CALL = re.compile(r"\b(json_extract|json_each|strftime|group_concat|CAST|MAX|MIN)\s*\(", re.I)


def rewrite_calls(sql: str) -> str:
    """``json_extract``, ``strftime('%s', ...)`` and two-argument MAX/MIN, rewritten."""
    out, pos = [], 0
    for match in _CALL.finditer(sql):
        if match.start() < pos or _in_literal(sql, match.start()):
            continue
        args, end = _arguments(sql, match.end())
        name = match.group(1).lower()
        replaced = _call(name, [_inner(a) for a in args])
        if replaced is None:
            continue
        out.append(sql[pos : match.start()] + replaced)
        pos = end
    out.append(sql[pos:])
    return "".join(out)


def _inner(arg: str) -> str:
    return rewrite_calls(arg)


def _call(name: str, args: list[str]) -> str | None:
    if name == "json_extract" and len(args) == 2:
        path = args[1].strip()
        keys = path.strip("'").removeprefix("$.").split(".")
        if not (path.startswith("'$.") and all(k.isidentifier() for k in keys)):
            return None
        chain = "".join(f" -> '{k}'" for k in keys[:-1])
        return f"(({args[0].strip()})::jsonb{chain} ->> '{keys[-1]}')"
    if name == "strftime" and len(args) == 2 and args[0].strip() in ("'%s'", "'%%s'"):
        return f"exchange_epoch({args[1].strip()})"
    text = re.fullmatch(r"\s*(.*?)\s+AS\s+TEXT\s*", args[0], re.I | re.S)
    # (not of a literal or a parameter: their type is unknown, and a cast is plain there)
    if name == "cast" and len(args) == 1 and text and text.group(1)[:1] not in "'?:":
        return f"exchange_text({text.group(1)})"
    if name == "json_each" and len(args) == 1:  # of an array: its elements, as ``value``
        return f"jsonb_array_elements(CAST({args[0].strip()} AS JSONB))"
    if name == "group_concat" and len(args) in (1, 2):
        separator = args[1].strip() if len(args) == 2 else "','"
        return f"string_agg(exchange_text({args[0].strip()}), {separator})"
    if name in ("max", "min") and len(args) >= 2:
        return ("GREATEST(" if name == "max" else "LEAST(") + ", ".join(args) + ")"
    return None


def _in_literal(sql: str, index: int) -> bool:
    return sql.count("'", 0, index) % 2 == 1


def _arguments(sql: str, start: int) -> tuple[list[str], int]:
    """The top-level arguments of the call opened just before ``start``, and its end."""
    depth, quoted, args, begin = 0, False, [], start
    for i in range(start, len(sql)):
        char = sql[i]
        if char == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif char == "(":
            depth += 1
        elif char == ")":
            if depth == 0:
                args.append(sql[begin:i])
                return args, i + 1
            depth -= 1
        elif char == "," and depth == 0:
            args.append(sql[begin:i])
            begin = i + 1
    raise ValueError("unbalanced parentheses in SQL")
