"""The witnesses' views of a log, as the auditor's check uses them (docs/AUDIT.md).

Each peer witness serves the latest checkpoint of our log it cosigned: the log's signed
note with the witness's cosignature line (``GET /v1/witness/checkpoint``). What one
witness answered, or why it could not be asked, is an ``ObtainedView``, kept as
obtained (the audit bundle carries them, ``--witness-views`` reads them back).
``open_views`` checks each under keys from the signed directory, never the node's own
rows: the log's signature under its ``audit_vkey`` and the cosignature under that
witness's key (``core.witness.witness_key``), and turns them into the sizes and roots
the log must be consistent with (``core.audit_verify.verify_log``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from .canonical import JsonObject
from .directory import Directory
from .errors import BadSignature, ExchangeError, Malformed
from .note import Verifier, parse_checkpoint, parse_note, verify_cosignature, verify_note
from .witness import witness_key, witness_name_for

MAX_VIEWS = 1000


@dataclass(frozen=True)
class ObtainedView:
    """What witness ``witness`` (an authority id) answered at ``obtained_at``: its
    cosigned checkpoint (``note``), none held (both None), or ``error`` (unreachable)."""

    witness: str
    obtained_at: str
    note: str | None = None
    error: str | None = None

    def to_json(self) -> JsonObject:
        return {
            "witness": self.witness,
            "obtained_at": self.obtained_at,
            "note": self.note,
            "error": self.error,
        }

    @classmethod
    def from_json(cls, data: object) -> ObtainedView:
        if not isinstance(data, dict) or set(data) != {"witness", "obtained_at", "note", "error"}:
            raise Malformed("a witness view is {witness, obtained_at, note, error}")
        values = [data[k] for k in ("witness", "obtained_at")]
        optional = [data[k] for k in ("note", "error")]
        if not all(isinstance(v, str) and 0 < len(v) <= 100 for v in values) or not all(
            v is None or (isinstance(v, str) and len(v) <= 1 << 16) for v in optional
        ):
            raise Malformed("a witness view's fields are strings")
        return cls(values[0], values[1], optional[0], optional[1])


def views_from_json(data: object) -> tuple[ObtainedView, ...]:
    """The ``witness_views`` list of an audit bundle or a ``--witness-views`` file."""
    if not isinstance(data, list) or len(data) > MAX_VIEWS:
        raise Malformed(f"witness_views must be a list of at most {MAX_VIEWS} views")
    return tuple(ObtainedView.from_json(item) for item in data)


@dataclass(frozen=True)
class WitnessView:
    """A verified view: witness ``witness`` cosigned size ``size`` with ``root`` at
    ``cosigned_at`` (Unix seconds, from its cosignature)."""

    witness: str
    size: int
    root: bytes
    cosigned_at: int

    def describe(self) -> str:
        when = datetime.fromtimestamp(self.cosigned_at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"size {self.size} (root {self.root.hex()[:16]}…) at {when}"


@dataclass
class OpenedViews:
    views: list[WitnessView] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # views that do not verify
    # (witness, why, when asked)
    unreachable: list[tuple[str, str, str]] = field(default_factory=list)
    holding_none: list[str] = field(default_factory=list)  # witnesses that cosigned none


def open_views(
    obtained: tuple[ObtainedView, ...], *, log_key: Verifier, directory: Directory | None
) -> OpenedViews:
    """Check every view; each one that does not verify is a problem, naming the witness."""
    opened = OpenedViews()
    for item in obtained:
        if item.error is not None:
            opened.unreachable.append((item.witness, item.error, item.obtained_at))
            continue
        if item.note is None:
            opened.holding_none.append(item.witness)
            continue
        authority = directory.get(item.witness) if directory is not None else None
        public_key = witness_key(authority) if authority is not None else None
        if public_key is None:
            opened.problems.append(f"{item.witness} publishes no witness key in the directory")
            continue
        try:
            opened.views.append(_open(item, item.note, log_key, public_key))
        except ExchangeError as exc:
            opened.problems.append(f"the view served by witness {item.witness}: {exc.message}")
    return opened


def _open(item: ObtainedView, text: str, log_key: Verifier, public_key: bytes) -> WitnessView:
    note = parse_note(text)
    verify_note(note, [log_key], required=[log_key.name])
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != log_key.name:
        raise BadSignature(f"it is a checkpoint of {checkpoint.origin[:80]}")
    name = witness_name_for(item.witness)
    line = next((s for s in note.signatures if s.name == name), None)
    if line is None:
        raise BadSignature(f"it carries no cosignature by {name}")
    cosigned_at = verify_cosignature(note.text, line, name, public_key)
    return WitnessView(item.witness, checkpoint.size, checkpoint.root, cosigned_at)
