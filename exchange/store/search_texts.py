"""What search indexes, read from the database and decrypted: the words of requests
(subject, body, both references, the counterpart's id) and of cases (title and
national reference; an implicit case, its requests' subjects, which its board row
shows). Read in batches after a high-water mark (``messages.id``, ``cases.rowid``), so
an index kept in memory catches up with every write path without being told; erasures
are found by ``requests.erased_at`` (migration 24's index). Nothing here is written."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from ..core.errors import DecryptionFailed
from ..core.search import Key, key_of, words
from ..core.vault import Vault
from . import cases as case_store
from .db import fetch_all

BATCH = 5000


@dataclass(frozen=True)
class Texts:
    """The words found after a mark, by document, and the next mark."""

    requests: list[tuple[Key, set[str]]] = field(default_factory=list)
    cases: list[tuple[Key, set[str]]] = field(default_factory=list)
    mark: int = 0
    more: bool = False


_COLUMNS = """SELECT m.id, m.sender, m.msg_id, m.type, m.content_key, m.content,
        r.id AS request_id, r.created_at, r.counterpart, r.erased_at,
        c.id AS case_id, c.created_at AS case_created_at, c.implicit
    FROM messages AS m"""
_JOINS = "JOIN requests AS r ON r.id = m.request_id LEFT JOIN cases AS c ON c.id = r.case_id"
# Every message after the mark, of any type (the others are skipped here): the mark then
# moves past the last message stored, so the next catch-up starts there. Were the types
# filtered in SQL, the mark would stop at the last request and every search would read
# again all the answers, receipts and case messages stored since.
_MESSAGES = f"""{_COLUMNS} {_JOINS} WHERE m.id > ? ORDER BY m.id LIMIT ?"""
_OF_CASE = f"{_COLUMNS} {_JOINS} WHERE r.case_id = ? AND m.type = 'request' AND r.erased_at IS NULL"
_INDEXED = ("request", "acknowledgement")


def request_texts(
    conn: sqlite3.Connection, vault: Vault, *, after: int, limit: int = BATCH
) -> Texts:
    """The words of the requests' messages stored after message ``after``."""
    rows = fetch_all(conn, _MESSAGES, (after, limit))
    indexed = [row for row in rows if row["type"] in _INDEXED]
    found, of_cases = _words_of(vault, indexed)
    mark = rows[-1]["id"] if rows else after
    return Texts(found, of_cases, mark, len(rows) == limit)


Found = list[tuple[Key, set[str]]]


def _words_of(vault: Vault, rows: list[dict[str, Any]]) -> tuple[Found, Found]:
    found: Found = []
    of_cases: Found = []
    for row in rows:
        if row["content_key"] is None or row["erased_at"] is not None:
            continue
        record = f"message:{row['sender']}:{row['msg_id']}"
        try:
            content = json.loads(vault.open(row["content_key"], row["content"], record=record))
        except DecryptionFailed:  # its month's key is gone: nothing left to find
            continue
        text = " ".join(str(content.get(name, "")) for name in ("subject", "body", "reference"))
        found_words = words(f"{text} {row['counterpart']}")
        found.append((key_of(row["created_at"], row["request_id"]), found_words))
        if row["case_id"] is not None and row["implicit"] and row["type"] == "request":
            subject = words(str(content.get("subject", "")))
            of_cases.append((key_of(row["case_created_at"], row["case_id"]), subject))
    return found, of_cases


# Every case after the mark, named or not (implicit cases have no names): as for the
# messages, the mark moves past the last case stored, not the last named one, or each
# catch-up would read again every implicit case opened since (all of them, on a node
# where cases are mostly implicit: 75 % of a search's time at 200,000 requests).
_CASES = """SELECT rowid, id, created_at, names_key, names, erased_at FROM cases
    WHERE rowid > ? ORDER BY rowid LIMIT ?"""


def case_texts(conn: sqlite3.Connection, vault: Vault, *, after: int, limit: int = BATCH) -> Texts:
    """The words of the sealed titles and references of cases stored after ``after``."""
    rows = fetch_all(conn, _CASES, (after, limit))
    found = []
    for row in rows:
        if row["names"] is None or row["erased_at"] is not None:
            continue
        record = case_store.record(row["id"])
        try:
            names = json.loads(vault.open(row["names_key"], row["names"], record=record))
        except DecryptionFailed:
            continue
        text = f"{names.get('title') or ''} {names.get('reference') or ''}"
        found.append((key_of(row["created_at"], row["id"]), words(text)))
    mark = rows[-1]["rowid"] if rows else after
    return Texts(cases=found, mark=mark, more=len(rows) == limit)


def marks(conn: sqlite3.Connection) -> tuple[int, int, str]:
    """Where the texts end now: last message id, last case rowid, last erasure time."""
    row = fetch_all(
        conn,
        "SELECT (SELECT COALESCE(MAX(id), 0) FROM messages) AS messages,"
        " (SELECT COALESCE(MAX(rowid), 0) FROM cases) AS cases,"
        " (SELECT COALESCE(MAX(erased_at), '') FROM requests) AS erased",
    )[0]
    return int(row["messages"]), int(row["cases"]), str(row["erased"])


@dataclass(frozen=True)
class Erased:
    """Requests erased at or after a mark (their keys), their cases (ids and keys),
    and the next mark."""

    requests: list[Key]
    cases: list[Key]
    mark: str


def erased_since(conn: sqlite3.Connection, mark: str) -> Erased:
    rows = fetch_all(
        conn,
        "SELECT r.id, r.created_at, r.erased_at, c.id AS case_id, c.created_at AS case_at"
        " FROM requests AS r LEFT JOIN cases AS c ON c.id = r.case_id"
        " WHERE r.erased_at >= ? ORDER BY r.erased_at",
        (mark,),
    )
    cases = {(r["case_at"], r["case_id"]) for r in rows if r["case_id"] is not None}
    last = rows[-1]["erased_at"] if rows else mark
    return Erased(
        [key_of(r["created_at"], r["id"]) for r in rows],
        [key_of(at, case_id) for at, case_id in sorted(cases)],
        last,
    )


def case_words(conn: sqlite3.Connection, vault: Vault, case_keys: list[Key]) -> Found:
    """The words of these cases as they stand now (after an erasure in them): the
    names of an explicit case not erased, the subjects of an implicit one's requests
    whose contents remain."""
    found: Found = []
    for _, case_id in case_keys:
        rows = fetch_all(
            conn, "SELECT rowid FROM cases WHERE id = ? AND erased_at IS NULL", (case_id,)
        )
        if not rows:
            continue
        named = case_texts(conn, vault, after=rows[0]["rowid"] - 1, limit=1)
        found += named.cases
        found += _words_of(vault, fetch_all(conn, _OF_CASE, (case_id,)))[1]
    return found
