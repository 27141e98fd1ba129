"""Canonical encodings used by every signed structure.

JSON is canonicalised with RFC 8785 (JCS) through the ``rfc8785`` package;
times are RFC 3339 UTC strings with exactly six fractional digits and a
``Z`` so that one instant has exactly one spelling; binary values are
standard base64 with padding and zero padding bits. What a peer sends must be
these exact bytes (``loads_canonical``, strict ``b64d``): one message, one
spelling, one hash.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import json.encoder
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import rfc8785

from .errors import Malformed

JsonObject = dict[str, Any]
"""A JSON object as parsed, or about to be serialised: free-form by nature (a message's
content, a signed document, an API body, a TOML table, a report), so its fields are
checked where they are read (``core/content.py`` validates every message type
strictly). Not for rows of the database: those are frozen dataclasses (``store/``)."""

_TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


_MAX_SAFE_INT = 2**53 - 1


def _refuse(value: object) -> Any:
    raise TypeError(f"{type(value).__name__} is not JSON")  # never reached: _plain checks first


# The standard library's encoder configured once (json.dumps builds a JSONEncoder, and
# that a C encoder, on every call): sorted keys, no whitespace, non-ASCII left as is. No
# circular-reference markers: ``_plain`` has walked the whole value first.
_encode_str: Callable[[str], str] = json.encoder.encode_basestring
_dumps: Callable[[Any], str] = json.JSONEncoder(
    ensure_ascii=False, check_circular=False, separators=(",", ":"), sort_keys=True
).encode
_make_encoder: Callable[..., Callable[[Any, int], Iterable[str]]] | None = getattr(
    json.encoder, "c_make_encoder", None
)
if _make_encoder is not None:  # CPython: the C encoder itself, called direct
    _encoder = _make_encoder(None, _refuse, _encode_str, None, ":", ",", True, False, True)

    def _dumps(value: Any) -> str:
        return "".join(_encoder(value, 0))


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of ``value`` (dicts, lists, str, int, bool, None).

    For values without floats, with ASCII keys and integers in the I-JSON range,
    the standard library's sorted, compact, non-ASCII-escaping output is byte for
    byte the RFC 8785 form (same escapes, and key order by code point equals order
    by UTF-16 unit for ASCII), and several times faster; anything else goes
    through ``rfc8785``. A property test holds the two to the same bytes.
    """
    if _plain(value):
        try:
            return _dumps(value).encode("utf-8")
        except UnicodeEncodeError:
            pass  # a lone surrogate: rfc8785 refuses it below
    return _reference(value)


def _reference(value: Any) -> bytes:
    try:
        return bytes(rfc8785.dumps(value))
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise Malformed("value cannot be canonicalised") from exc


def canonical_members(members: dict[str, bytes]) -> bytes:
    """RFC 8785 bytes of an object whose member values are already canonical bytes.

    Keys must be ASCII (then sorting by code point is sorting by UTF-16 unit), so
    this is byte for byte ``canonical_json`` of the decoded object. It lets a large
    value (a request's content) be encoded once and spliced into every structure
    that holds it: the signing input, the inner document and the stored copy.
    """
    if not all(key.isascii() for key in members):
        raise ValueError("canonical_members takes ASCII keys only")
    # an ASCII key's canonical JSON is the standard library's escaping of it
    parts = [_encode_str(key).encode() + b":" + members[key] for key in sorted(members)]
    return b"{" + b",".join(parts) + b"}"


def b64_json(data: bytes) -> bytes:
    """The canonical JSON string of ``b64e(data)`` (base64 needs no escaping)."""
    return b'"' + base64.b64encode(data) + b'"'


def _plain(value: Any) -> bool:
    """True if the standard library's output for ``value`` is its RFC 8785 form.

    The common case, values of exactly the JSON types, is decided in one pass on exact
    types; a subclass (an enum, a str subclass) or anything else is left to
    ``_plain_general``, the rule as it always was, so both decide alike.
    """
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str or kind is bool or item is None:
            continue
        if kind is int:
            if not -_MAX_SAFE_INT <= item <= _MAX_SAFE_INT:
                return False
        elif kind is dict:
            try:
                keys = "".join(item)  # every key a str, or TypeError
            except TypeError:
                return False
            if not keys.isascii():
                return False
            extend(item.values())
        elif kind is list:
            extend(item)
        else:
            push(item)
            return _plain_general(stack)
    return True


def _plain_general(stack: list[Any]) -> bool:
    while stack:
        item = stack.pop()
        if isinstance(item, str) or item is None or isinstance(item, bool):
            continue
        if isinstance(item, int):
            if not -_MAX_SAFE_INT <= item <= _MAX_SAFE_INT:
                return False
        elif isinstance(item, dict):
            for key, child in item.items():
                if not isinstance(key, str) or not key.isascii():
                    return False
                stack.append(child)
        elif isinstance(item, list):
            stack.extend(item)
        else:
            return False  # floats, tuples, anything else: the reference path decides
    return True


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def b64e(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64d(text: object, *, field: str = "value", length: int | None = None) -> bytes:
    """Strict base64 decode: rejects non-strings, bad padding, stray characters, and
    any spelling but the canonical one (non-zero padding bits decode to the same
    bytes, so decoding then encoding must give back the same text)."""
    if not isinstance(text, str):
        raise Malformed(f"{field} must be a base64 string")
    try:
        raw = text.encode("ascii")
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise Malformed(f"{field} is not valid base64") from exc
    if base64.b64encode(data) != raw:
        raise Malformed(f"{field} is not canonical base64")
    if length is not None and len(data) != length:
        raise Malformed(f"{field} must be {length} bytes")
    return data


def format_time(moment: datetime) -> str:
    if type(moment) is datetime and moment.tzinfo is UTC:
        # the common case, a UTC time from the clock or parse_time: its fields as they
        # are (about twice as fast as converting and isoformat, and the same text)
        return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 -- fastest here
            moment.year, moment.month, moment.day,
            moment.hour, moment.minute, moment.second, moment.microsecond,
        )  # fmt: skip
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    utc = moment.astimezone(UTC)
    # isoformat with a fixed precision is the same text as strftime, and faster
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: object, *, field: str = "time") -> datetime:
    if not isinstance(text, str) or not _TIME_RE.fullmatch(text):
        raise Malformed(f"{field} must be an RFC 3339 UTC time like 2026-01-01T00:00:00.000000Z")
    try:
        # the pattern fixed the form; fromisoformat is ~50 times faster than strptime
        return datetime.fromisoformat(text).astimezone(UTC)
    except ValueError as exc:
        raise Malformed(f"{field} is not a valid time") from exc


def loads_object(data: bytes, *, max_depth: int = 16) -> JsonObject:
    """Parse JSON bytes that must hold an object, with a nesting-depth bound."""
    return _parse_object(data, max_depth)[0]


def loads_canonical(data: bytes, *, max_depth: int = 16, what: str = "body") -> JsonObject:
    """Parse JSON bytes that must be exactly ``canonical_json`` of the object they hold.

    Whitespace, another key order, ``1.0`` for ``1``, duplicate keys or another escape
    all parse to the same object but are other bytes, with another hash: refused, so
    a signed structure has one spelling and one SHA-256.
    """
    value, plain = _parse_object(data, max_depth)
    # canonical_json(value), with _plain decided by the walk that bounded the depth
    if plain:
        try:
            encoded = _dumps(value).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate (from an escape): refused below
            encoded = _reference(value)
    else:
        encoded = _reference(value)
    if encoded != data:
        raise Malformed(f"{what} bytes are not canonical JSON (RFC 8785)")
    return value


def _parse_object(data: bytes, max_depth: int) -> tuple[JsonObject, bool]:
    """The object ``data`` holds, and whether it is ``_plain``."""
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise Malformed("body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise Malformed("body must be a JSON object")
    depth, plain = _shape(value)
    if depth > max_depth:
        raise Malformed("JSON nesting is too deep")
    return value, plain


def _shape(value: JsonObject) -> tuple[int, bool]:
    """The nesting depth of a parsed object (1 for ``{}``, 2 for ``{"a": 1}``) and whether
    it is ``_plain``, in one pass. ``json.loads`` makes only exact dicts, lists, str,
    int, float, bool and None, with str keys. Iterative so a hostile document cannot
    exhaust the Python stack."""
    deepest, plain = 1, True
    stack: list[tuple[Any, int]] = [(value, 1)]
    pop, push = stack.pop, stack.append
    while stack:
        item, depth = pop()
        if type(item) is dict:
            if plain and not "".join(item).isascii():
                plain = False
            children = item.values()
        else:
            children = item
        if not children:
            continue
        depth += 1
        if depth > deepest:
            deepest = depth
        for child in children:
            kind = type(child)
            if kind is dict or kind is list:
                push((child, depth))
            elif kind is int:
                if not -_MAX_SAFE_INT <= child <= _MAX_SAFE_INT:
                    plain = False
            elif kind is not str and kind is not bool and child is not None:
                plain = False  # a float: the reference path decides
    return deepest, plain
