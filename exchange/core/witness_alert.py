"""Witness alerts as signed statements (``exchange/witness-alert/v1``), sent by the
witness that raised one to the watched node and to every other peer.

A statement names the issuing witness, the watched log, the kind, the detail, the
time, and carries the evidence: the checkpoint notes the witness holds, each signed
by the watched log's own audit key. It is signed by the issuer's node signing key
(like a refusal). A receiver accepts it only if the signature verifies under a key
the directory gives the issuer, and the evidence says what the kind claims under the
watched log's ``audit_vkey``:

* ``fork``: both notes verify; the same size with two roots (proof on its own), or a
  larger presented size (the witness's word that its consistency proof failed);
* ``shrunk``: both notes verify, the presented size is smaller than the previous one;
* ``refused``: the presented note verifies and, when a previous one is given, it
  verifies too and is smaller (the log grew and no proof of it was offered).

``unavailable`` has no signed evidence and is never sent. An alert whose evidence does
not prove anything is refused (``bad_evidence``): a witness cannot accuse a log with
notes the log never signed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from .canonical import (
    JsonObject,
    b64d,
    b64e,
    canonical_json,
    format_time,
    loads_canonical,
    parse_time,
    sha256_hex,
)
from .directory import Directory
from .errors import BadEvidence, ExchangeError, Malformed, UnknownSender
from .keys import SigningKeyPair, verify_signature
from .note import Checkpoint, parse_note
from .witness import open_checkpoint

_CTX = "exchange/witness-alert/v1"
MAX_STATEMENT_BYTES = 64 * 1024
SIGNED_KINDS = frozenset({"fork", "shrunk", "refused"})
_FIELDS = frozenset(
    {"v", "issuer", "peer", "kind", "detail", "previous", "presented", "issued_at", "key_id"}
)


@dataclass(frozen=True)
class AlertStatement:
    issuer: str  # the witness that raised it
    peer: str  # the authority whose log it is about
    kind: str
    detail: str
    previous: str  # the note the witness had verified ("" if none, for ``refused``)
    presented: str  # the note the log presented
    issued_at: datetime
    key_id: str
    signature: bytes

    def body(self) -> JsonObject:
        return {
            "v": 1,
            "issuer": self.issuer,
            "peer": self.peer,
            "kind": self.kind,
            "detail": self.detail,
            "previous": self.previous,
            "presented": self.presented,
            "issued_at": format_time(self.issued_at),
            "key_id": self.key_id,
        }

    def to_bytes(self) -> bytes:
        return canonical_json({"alert": self.body(), "signature": b64e(self.signature)})

    def evidence_sha256(self) -> str:
        """What the alert accuses, apart from when and in which words: a receiver keeps
        one alert per issuer, log, kind and this."""
        return sha256_hex(canonical_json({"previous": self.previous, "presented": self.presented}))


def issue_alert(
    *,
    issuer: str,
    peer: str,
    kind: str,
    detail: str,
    previous: str,
    presented: str,
    issued_at: datetime,
    key: SigningKeyPair,
) -> AlertStatement:
    unsigned = AlertStatement(
        issuer, peer, kind, detail, previous, presented, issued_at, key.public.key_id, b""
    )
    return replace(unsigned, signature=key.sign(_signing_input(unsigned.body())))


def parse_alert(data: bytes) -> AlertStatement:
    """One spelling only (canonical JSON): a statement re-spelled is another byte string
    a receiver would keep, audit and count again."""
    obj = loads_canonical(data, max_depth=3, what="witness alert")
    body = obj.get("alert")
    if set(obj) != {"alert", "signature"} or not isinstance(body, dict) or set(body) != _FIELDS:
        raise Malformed("a witness alert must be {alert: {...}, signature}")
    if body["v"] != 1:
        raise Malformed("unsupported witness alert version")
    names = ("issuer", "peer", "kind", "detail", "previous", "presented", "key_id")
    if not all(isinstance(body[name], str) for name in names):
        raise Malformed("witness alert fields must be strings")
    if body["kind"] not in SIGNED_KINDS:
        raise Malformed(f"a witness alert's kind is one of {sorted(SIGNED_KINDS)}")
    return AlertStatement(
        issuer=body["issuer"],
        peer=body["peer"],
        kind=body["kind"],
        detail=body["detail"][:500],
        previous=body["previous"],
        presented=body["presented"],
        issued_at=parse_time(body["issued_at"], field="issued_at"),
        key_id=body["key_id"],
        signature=b64d(obj["signature"], field="signature", length=64),
    )


def verify_alert(statement: AlertStatement, *, directory: Directory) -> None:
    """Check the issuer's signature and that the evidence proves what the kind says."""
    issuer = directory.get(statement.issuer)
    key = issuer.signing_key(statement.key_id) if issuer else None
    if key is None:
        raise UnknownSender("the alert's issuer or key is not in the directory")
    key.require_valid_at(statement.issued_at)
    verify_signature(key.public, _signing_input(statement.body()), statement.signature)
    watched = directory.get(statement.peer)
    if watched is None or watched.audit_vkey is None or statement.peer == statement.issuer:
        raise BadEvidence("the alert is about no log the directory publishes a key for")
    presented = _checkpoint(statement.presented, statement.peer, watched.audit_vkey)
    previous = None
    if statement.previous or statement.kind != "refused":
        previous = _checkpoint(statement.previous, statement.peer, watched.audit_vkey)
    if not _shows(statement.kind, previous, presented):
        raise BadEvidence(f"the evidence shows no {statement.kind}")


def _shows(kind: str, previous: Checkpoint | None, presented: Checkpoint) -> bool:
    if previous is None:
        return kind == "refused"
    if kind == "fork":
        same_size = presented.size == previous.size
        return presented.root != previous.root if same_size else presented.size > previous.size
    if kind == "shrunk":
        return presented.size < previous.size
    return presented.size > previous.size  # refused: it grew, and gave no proof


def _checkpoint(text: str, authority_id: str, audit_vkey: str) -> Checkpoint:
    try:
        return open_checkpoint(parse_note(text), authority_id, audit_vkey)
    except (ValueError, ExchangeError) as exc:
        raise BadEvidence(f"a note of the evidence is not signed by {authority_id}'s log") from exc


def _signing_input(body: JsonObject) -> bytes:
    return canonical_json({"ctx": _CTX, "alert": body})
