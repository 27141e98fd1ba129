"""The Idempotency-Key of a state-changing call (draft-ietf-httpapi-idempotency-key-
header): the key's syntax, and the fingerprint of the request it stands for."""

from __future__ import annotations

import hashlib

from .errors import MalformedIdempotencyKey

MAX_KEY_CHARS = 255


def parse_key(value: str) -> str:
    """The key of a header or form field value: an RFC 8941 sf-string (``"..."``, as
    the draft spells it) or the bare characters (as most clients send it). Either way
    1-255 printable ASCII characters, no space at either end; anything else is refused
    (``malformed_idempotency_key``), never trimmed or guessed at."""
    key = _unquoted(value[1:-1]) if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if not 1 <= len(key) <= MAX_KEY_CHARS:
        raise MalformedIdempotencyKey(f"an Idempotency-Key is 1-{MAX_KEY_CHARS} characters")
    if not all(" " <= ch <= "~" for ch in key) or key != key.strip(" "):
        raise MalformedIdempotencyKey("an Idempotency-Key is printable ASCII, unpadded")
    return key


def _unquoted(inner: str) -> str:
    """The characters of an sf-string: ``\\"`` and ``\\\\`` escaped, nothing else."""
    chars, escaped = [], False
    for ch in inner:
        if escaped:
            if ch not in '"\\':
                raise MalformedIdempotencyKey("the Idempotency-Key string is badly escaped")
            chars.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            raise MalformedIdempotencyKey("the Idempotency-Key string is badly escaped")
        else:
            chars.append(ch)
    if escaped:
        raise MalformedIdempotencyKey("the Idempotency-Key string is badly escaped")
    return "".join(chars)


def fingerprint(method: str, target: str, content_type: str, body: bytes | None) -> str:
    """SHA-256 over what makes two requests the same request: the method, the target
    (path and query, the key's own parameter left out), the media type and the body
    (``None``: a streamed multipart body, which is not buffered to be hashed)."""
    digest = hashlib.sha256()
    for part in (method.upper(), target, content_type.lower()):
        digest.update(part.encode("utf-8", errors="surrogateescape") + b"\0")
    digest.update(b"streamed" if body is None else b"body\0" + body)
    return digest.hexdigest()
