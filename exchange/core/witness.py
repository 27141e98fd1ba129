"""Checkpoint names and the witness's judgement, as pure functions.

A node's audit log has the origin ``exchange/<authority>/audit``; the same
Ed25519 key (published as ``audit_vkey`` in the directory) signs its
checkpoints (signed-note type 0x01) and, under the name
``exchange/<authority>/witness``, the cosignatures it gives its peers
(tlog-cosignature type 0x04). The two uses sign different messages (a
cosignature message starts with ``cosignature/v1``, which is not a valid
origin of ours), so one key cannot be confused for the other.

``judge`` is the witness's whole decision: given what it last verified of a
peer's log and a new signed checkpoint with a consistency proof, advance,
stay, or report a fork, a shrinking log or a refusal to prove. It never trusts the peer's word
that the new tree extends the old one: only the proof.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from .directory import Authority
from .keys import SigningKeyPair
from .merkle import EMPTY_ROOT, ProofError, verify_consistency
from .note import Checkpoint, Note, Verifier, parse_checkpoint, parse_vkey, sign_note, verify_note

Verdict = Literal["advance", "same", "fork", "shrunk", "refused"]
# a verdict on a checkpoint, or none possible: the peer could not be reached
Outcome = Literal["advance", "same", "fork", "shrunk", "refused", "stale", "unavailable"]


def origin_for(authority_id: str) -> str:
    return f"exchange/{authority_id}/audit"


def witness_name_for(authority_id: str) -> str:
    return f"exchange/{authority_id}/witness"


def witness_key(authority: Authority) -> bytes | None:
    """The Ed25519 public key that verifies ``authority``'s cosignatures (as a
    witness, under ``witness_name_for``), or None when it publishes none. The one
    place that says which directory key a witness signs with: its ``witness_vkey``
    (type 0x04, checked to name ``exchange/<id>/witness`` when the directory is
    parsed); an entry made before ``witness_vkey`` existed falls back to the key of
    its ``audit_vkey``, which is the same key (docs/THREAT_MODEL.md)."""
    if authority.witness_vkey is not None:
        return parse_vkey(authority.witness_vkey).public_key
    if authority.audit_vkey is None:
        return None
    return parse_vkey(authority.audit_vkey).public_key


def sign_checkpoint(authority_id: str, size: int, root: bytes, key: SigningKeyPair) -> str:
    """The checkpoint note of the log at ``size`` (tlog-checkpoint in a signed note)."""
    text = Checkpoint(origin_for(authority_id), size, root).to_text()
    return sign_note(text, origin_for(authority_id), key)


def log_verifier(authority_id: str, audit_vkey: str) -> Verifier:
    """The verifier of a log's checkpoints, from its directory ``audit_vkey``."""
    verifier = parse_vkey(audit_vkey)
    if verifier.name != origin_for(authority_id):
        raise ValueError(f"audit_vkey of {authority_id} names {verifier.name}")
    return verifier


def open_checkpoint(note: Note, authority_id: str, audit_vkey: str) -> Checkpoint:
    """Verify a peer's checkpoint note against its published key; return the checkpoint."""
    verifier = log_verifier(authority_id, audit_vkey)
    verify_note(note, [verifier], required=[verifier.name])
    checkpoint = parse_checkpoint(note.text)
    if checkpoint.origin != origin_for(authority_id):
        raise ValueError(f"checkpoint origin {checkpoint.origin!r} is not {authority_id}'s")
    return checkpoint


@dataclass(frozen=True)
class Seen:
    """What a witness last verified of a log."""

    size: int
    root: bytes


@dataclass(frozen=True)
class Judgement:
    verdict: Outcome
    detail: str


def judge(previous: Seen | None, new: Checkpoint, proof: list[bytes] | None) -> Judgement:
    """Decide whether ``new`` extends ``previous`` (RFC 9162 consistency)."""
    if previous is None:
        if new.size == 0 and new.root != EMPTY_ROOT:
            return Judgement("fork", "an empty log with a non-empty root")
        return Judgement("advance", f"first checkpoint seen, size {new.size}")
    if new.size < previous.size:
        return Judgement("shrunk", f"log shrank from {previous.size} to {new.size} entries")
    if new.size == previous.size:
        if new.root == previous.root:
            return Judgement("same", f"unchanged at size {new.size}")
        return Judgement("fork", f"two different roots at size {new.size}")
    if proof is None:  # no proof is no evidence either way: the peer refused to prove
        return Judgement("refused", "no consistency proof offered for a grown log")
    try:
        verify_consistency(previous.size, new.size, previous.root, new.root, proof)
    except ProofError as exc:
        return Judgement("fork", f"size {new.size} is not consistent with {previous.size}: {exc}")
    return Judgement("advance", f"grew from {previous.size} to {new.size} consistently")


# -- outcomes of a witnessing round and what each one calls for -------------------


def stale(checkpoint: Checkpoint, claimed: int | None) -> Judgement | None:
    """A checkpoint smaller than a log size the log itself signed elsewhere (in an
    envelope to us, before we asked for the checkpoint): the log serves an old
    checkpoint (frozen), or shows us another history than it lives in (forked)."""
    if claimed is None or checkpoint.size >= claimed:
        return None
    return Judgement(
        "stale", f"checkpoint of size {checkpoint.size}, but it signed a log size of {claimed}"
    )


def failed_call(status: int | None) -> Literal["unavailable", "refused"]:
    """What a call to the watched node that gave no usable answer means.

    ``status`` is None when no HTTP answer came at all (network error, timeout,
    TLS failure). No answer, 429 (its rate limit, or ours) and 5xx say nothing about
    the log: the peer is *unavailable* and is tried again next round. Any other
    answer (a 4xx, or a 200 whose body is no proof) is the peer answering without
    offering a proof: *refused*."""
    if status is None or status == 429 or status >= 500:
        return "unavailable"
    return "refused"


@dataclass(frozen=True)
class PeerRecord:
    """What the witness remembers of a peer between rounds, besides its view."""

    unavailable_since: datetime | None
    open_alerts: frozenset[str]  # kinds with an alert raised and not yet closed


@dataclass(frozen=True)
class Response:
    """What to do after a round: raise an alert (of the outcome's kind), close open
    alerts, and what to remember of the peer's availability."""

    alert: bool
    close: frozenset[str]
    unavailable_since: datetime | None


def respond(
    outcome: Outcome, record: PeerRecord, now: datetime, alert_after: timedelta
) -> Response:
    """The witness's response to one round's outcome.

    * advance / same: the log was verified; every open alert of the peer is closed,
      so a later problem of any kind is raised anew.
    * unavailable: remember since when; alert once the peer has been unavailable for
      ``alert_after`` (one alert per outage).
    * refused, fork, shrunk, stale: alert at once, unless an alert of that kind is open
      (the same unresolved problem is not repeated every round); the peer answered,
      so an unavailability ends and its alert is closed.
    """
    if outcome in ("advance", "same"):
        return Response(False, record.open_alerts, None)
    if outcome == "unavailable":
        since = record.unavailable_since or now
        due = now - since >= alert_after and "unavailable" not in record.open_alerts
        return Response(due, frozenset(), since)
    return Response(outcome not in record.open_alerts, frozenset({"unavailable"}), None)
