"""The directory operator's own memory of what it signed: a small state file next to
each operator key (``operator.json`` -> ``operator.state.json``), written atomically.
Its serial only ever grows, so the tool never signs two documents with one serial
(an equivocation every node would report), whatever ``--out`` file or draft it is given.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from ..core.canonical import format_time, sha256_hex
from ..core.errors import InvalidRequest
from .keyfiles import write_private


@dataclass(frozen=True)
class SignedState:
    last_serial: int
    last_sha256: str | None


def state_path(key_path: Path) -> Path:
    return key_path.with_name(key_path.stem + ".state.json")


def last_signed(key_path: Path) -> SignedState:
    """What this key last signed (serial 0 if never); an unreadable state file stops the
    tool rather than let it start again from a lower serial."""
    path = state_path(key_path)
    if not path.exists():
        return SignedState(0, None)
    try:
        doc = json.loads(path.read_text())
        serial = doc["last_serial"]
        sha = doc.get("last_sha256")
    except (ValueError, KeyError, TypeError, OSError):
        raise InvalidRequest(f"{path} is unreadable: restore it before signing") from None
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise InvalidRequest(f"{path} holds no valid last_serial: restore it before signing")
    return SignedState(serial, sha if isinstance(sha, str) else None)


def next_serial(key_paths: list[Path], *, wanted: int) -> int:
    """The serial to sign: at least ``wanted``, above every serial these keys signed."""
    return max(wanted, *(last_signed(p).last_serial + 1 for p in key_paths))


def record_signed(key_paths: list[Path], *, serial: int, document: bytes, now: datetime) -> None:
    """Remember ``serial`` before the document is written out (a crash in between skips
    a serial, which is harmless; it never reuses one)."""
    for path in key_paths:
        if serial <= last_signed(path).last_serial:
            raise InvalidRequest(f"serial {serial} was already signed with {path}")
        state = {
            "last_serial": serial,
            "last_sha256": sha256_hex(document),
            "signed_at": format_time(now),
        }
        write_private(state_path(path), (json.dumps(state, indent=2) + "\n").encode())
