"""Cursors: where the next page of a list starts, opaque to clients.

A page ends with a cursor holding the sort key of its last row, as canonical JSON in
URL-safe base64 without padding; the next page starts strictly after that key
(keyset pagination, ``exchange.store.request_lists``, ``store.deadlines``,
``store.witness``). Decoded, a cursor of the inbox reads
``{"after":["2026-01-02T09:00:00.000000Z","2026-01-01T08:30:00.000000Z",
"0190c6c2-..."],"list":"inbox","v":1}``.

Bound to its list: ``list`` names the order it is a position in, and a cursor of one
list is refused by another, since a position in one order means nothing in the other:

* ``requests``: newest first, ``[created_at, id]``;
* ``cases``: newest first, ``[created_at, id]``;
* ``inbox``: nearest deadline first, ``[deadline or null, created_at, id]``;
* ``deadlines``: open requests first by deadline, then settled ones by the time they
  had left when answered, ``[deadline, answered_at or null, id]`` (null while open);
* ``alerts`` (deadline escalations), ``witness_alerts`` and ``received_witness_alerts``
  (those other witnesses signed and sent us): newest first, ``[id]``, the row's integer id.

It is not bound to a list's filters (direction, peer, status, state...) nor to the
user: every filter of a list keeps its order, so a position stays meaningful, and
changing a filter between pages goes on from the same place.

Not signed: a cursor grants nothing. Who sees which rows is decided by the query's
WHERE clause on every page, so a cursor edited into another well-formed position only
moves where a page starts among rows the user may see anyway; and it holds nothing but
the sort key of a row the user was just shown.

Every way a cursor can be bad (not base64, not canonical JSON, another shape, another
list's, a time that is not one) is the same error, ``Malformed``, with one message.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence

from .canonical import canonical_json, parse_time
from .errors import Malformed

Position = tuple[str | int | None, ...]
"""A row's sort key in its list's order (see ``SHAPES``)."""

VERSION = 1
MAX_CHARS = 400  # a cursor is ~200 characters; anything much longer is not one
MAX_SERIAL = 2**53 - 1  # an integer id, as far as JSON carries integers exactly
SHAPES: dict[str, tuple[str, ...]] = {
    "requests": ("time", "id"),
    "inbox": ("time_or_null", "time", "id"),
    "deadlines": ("time", "time_or_null", "id"),
    "alerts": ("serial",),
    "witness_alerts": ("serial",),
    "received_witness_alerts": ("serial",),
    "cases": ("time", "id"),
}
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")
_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z_.:-]{0,99}")  # request ids are UUID strings


def encode(list_name: str, after: Sequence[str | int | None]) -> str:
    """The cursor of the position ``after`` in ``list_name``."""
    position = tuple(after)
    if not _fits(list_name, position):
        raise ValueError(f"not a position in {list_name!r}: {position!r}")
    document = {"after": list(position), "list": list_name, "v": VERSION}
    return base64.urlsafe_b64encode(canonical_json(document)).rstrip(b"=").decode("ascii")


def decode(token: str, list_name: str) -> Position:
    """The position a cursor of ``list_name`` holds; ``Malformed`` for anything else."""
    if not isinstance(token, str) or len(token) > MAX_CHARS or not _BASE64URL.fullmatch(token):
        raise _bad()
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        document = json.loads(raw)
    except (binascii.Error, ValueError, RecursionError) as exc:
        raise _bad() from exc
    if not isinstance(document, dict) or set(document) != {"after", "list", "v"}:
        raise _bad()
    after, v = document["after"], document["v"]
    if type(v) is not int or v != VERSION or document["list"] != list_name:
        raise _bad()
    if not isinstance(after, list) or not _fits(list_name, position := tuple(after)):
        raise _bad()
    # one spelling per position: re-encoded, it must be the very same text
    if encode(list_name, position) != token:
        raise _bad()
    return position


def _fits(list_name: str, position: tuple[object, ...]) -> bool:
    shape = SHAPES.get(list_name)
    if shape is None or len(position) != len(shape):
        return False
    return all(_is(kind, value) for kind, value in zip(shape, position, strict=True))


def _is(kind: str, value: object) -> bool:
    if value is None:
        return kind == "time_or_null"
    if kind == "serial":  # an INTEGER PRIMARY KEY: from 1 up (not a bool, not a float)
        return type(value) is int and 1 <= value <= MAX_SERIAL
    if not isinstance(value, str):
        return False
    if kind == "id":
        return _ID.fullmatch(value) is not None
    try:
        parse_time(value)
    except Malformed:
        return False
    return True


def _bad() -> Malformed:
    return Malformed("the cursor is malformed: pass back the `next` value of the last page")
