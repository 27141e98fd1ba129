"""Envelopes from peers: each verified (outer signature before decryption), decrypted,
checked and stored exactly once, then receipted; a transaction's receipts share one
signature. An envelope of the calling peer that is refused gets a signed refusal."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import structlog

from ..core import content as contents
from ..core import ids
from ..core.canonical import JsonObject, parse_time, sha256_hex
from ..core.envelope import Opened, open_
from ..core.errors import ExchangeError, Malformed, NotFound, TooLarge, UnknownSender
from ..core.keys import SigningKeyPair
from ..core.receipt import issue_receipts
from ..core.refusal import issue_refusal
from ..store import audit, case_inbound
from ..store import inbound as inbound_store
from ..store.db import transaction
from ..store.inbound import Arrival
from ..store.messages import IncomingMessage
from . import sealing, sharing, witness
from .node import Node

log = structlog.get_logger("exchange.service")

# A peer's case messages after which the origin tells the members who is in the case.
_ANNOUNCING = ("case_acceptance", "case_departure")


@dataclass(frozen=True)
class Refused:
    """An envelope refused: the error, and the refusal signed by this node when the
    envelope was authenticated as the caller's (None for bytes we cannot attribute)."""

    error: ExchangeError
    refusal: bytes | None = None


async def accept_envelopes(
    node: Node, envelopes: Sequence[bytes | ExchangeError], *, caller: str
) -> list[bytes | Refused]:
    """A transaction's envelopes: each verified, decrypted and stored exactly once.

    One result per envelope, in order: the signed receipt, or the refusal of that
    envelope alone (an item may arrive as an error already, e.g. bad base64). The
    accepted ones are stored in one database job, which then signs the receipts of
    those it stored, and only of those (``store.inbound.receive_all``).
    """
    now = node.clock.now()
    key = node.signing_key(now)
    results: list[bytes | Refused] = []
    opened: list[tuple[int, Opened]] = []
    for data in envelopes:
        try:
            if isinstance(data, ExchangeError):
                raise data
            envelope = _open(node, data, caller=caller, now=now)
        except ExchangeError as exc:
            results.append(Refused(exc))  # not attributable to the caller: unsigned
            continue
        try:
            _check(node, envelope)
        except ExchangeError as exc:
            results.append(_refuse(node, envelope, exc, now, key))
            continue
        opened.append((len(results), envelope))
        results.append(b"")  # filled in once stored
    arrivals = [_arrival(node, o, now) for _, o in opened]

    def receive(c: sqlite3.Connection) -> list[bytes | ExchangeError]:
        def issue(messages: Sequence[IncomingMessage]) -> list[bytes]:
            fields = [
                (m.msg_id, m.sender, m.envelope_sha256, sha256_hex(m.evidence_json or b""))
                for m in messages
            ]
            # our log's size as we sign, inside the transaction: receipts v3 sign it
            signed = issue_receipts(
                fields, recipient=node.me, received_at=now, key=key, log_size=audit.size(c)
            )
            return [receipt.to_bytes() for receipt in signed]

        # The blobs once more, on the database thread: a collection pass queued before
        # this job may have deleted one since _check saw it (ops/retention.py)
        gone = [_blobs_gone(node, o.content) for _, o in opened]
        here = [a for a, error in zip(arrivals, gone, strict=True) if error is None]
        # an answer or departure stored before is told to the members once, not again
        # for each copy of its bytes a peer (or an attacker replaying them) sends
        replayed.update(
            (a.message.sender, a.message.msg_id)
            for a in here
            if a.message.type in _ANNOUNCING
            and case_inbound.seen(c, a.message.sender, a.message.msg_id) is not None
        )
        with transaction(c):
            stored = iter(
                inbound_store.receive_all(
                    c, node.vault, me=node.me, arrivals=here, now=now, issue=issue
                )
            )
            if here:  # the largest log size the caller signed, in the same commit
                witness.record_claim(c, caller, claim, now)
        return [error if error is not None else next(stored) for error in gone]

    largest = max((o for _, o in opened), key=lambda o: o.header.log_size or 0, default=None)
    claim = witness.claim_of(largest) if largest is not None else None

    replayed: set[tuple[str, str]] = set()
    stored = await node.db.run(receive)
    received = []
    answers: list[tuple[str, str]] = []  # acceptances, departures: the members are told
    for (position, envelope), arrival, outcome in zip(opened, arrivals, stored, strict=True):
        if isinstance(outcome, ExchangeError):
            results[position] = _refuse(node, envelope, outcome, now, key)
            continue
        results[position] = outcome
        received.append(arrival.message.msg_id)
        sender, msg_id = arrival.message.sender, arrival.message.msg_id
        if arrival.message.type in _ANNOUNCING and (sender, msg_id) not in replayed:
            answers.append((msg_id, sender))
        if arrival.message.type == "request":
            node.notice_deadline(arrival.check_at)
        else:
            node.wake_deadlines()  # an acknowledgement or answer may stop a clock
    if received:
        log.info("envelopes_accepted", peer=caller, count=len(received), msg_ids=received)
    if answers:
        await sharing.answered(node, answers)
    return results


def _open(node: Node, data: bytes, *, caller: str, now: datetime) -> Opened:
    """Open one envelope of the caller's (both signatures verified; nothing stored)."""
    opened = open_(
        data,
        directory=node.directory.require(),
        me=node.me,
        keys=node.keys,
        now=now,
        max_bytes=node.config.limits.max_envelope_bytes,
    )
    if opened.header.sender != caller:
        raise UnknownSender("the envelope's sender is not the calling peer")
    return opened


def _check(node: Node, opened: Opened) -> None:
    """An opened envelope's content and attachments, before it is stored."""
    limit = node.config.limits.max_body_chars
    contents.validate(opened.header.type, opened.content, max_body_chars=limit)
    check_blobs(node, opened.content)
    if opened.header.type == "transfer" and not node.directory.require().get(
        opened.content["to"]
    ):  # retryable: the transferring node's directory may be newer than ours
        raise NotFound("the transfer names an authority this node does not know")


def _refuse(
    node: Node, opened: Opened, error: ExchangeError, now: datetime, key: SigningKeyPair
) -> Refused:
    """The caller's envelope refused, with this node's signed refusal (its code, the
    envelope's hash and ids, the time)."""
    header = opened.header
    refusal = issue_refusal(
        code=error.code,
        msg_id=header.msg_id,
        sender=header.sender,
        recipient=node.me,
        envelope_sha256=opened.envelope_sha256,
        refused_at=now,
        key=key,
    )
    return Refused(error, refusal.to_bytes())


def _arrival(node: Node, opened: Opened, now: datetime) -> Arrival:
    """An opened envelope, ready to store."""
    header = opened.header
    incoming = IncomingMessage(
        msg_id=header.msg_id,
        type=header.type,
        sender=header.sender,
        created_at=header.created_at,
        content=opened.content,
        envelope_sha256=opened.envelope_sha256,
        evidence={"header": header.to_json(), "signature": opened.evidence_signature.hex()},
        content_json=opened.content_json,
        evidence_json=opened.evidence_json,
    )
    plan, check_at = None, None
    if header.type == "request" and opened.content.get("deadline"):
        plan, check_at = sealing.deadline_plan(
            node,
            opened.content["urgency"],
            header.created_at,
            parse_time(opened.content["deadline"]),
            now,
        )
    return Arrival(incoming, ids.request_id(), plan, check_at)


def _blobs_gone(node: Node, content: JsonObject) -> ExchangeError | None:
    try:
        check_blobs(node, content)
    except ExchangeError as exc:
        return exc
    return None


def check_blobs(node: Node, content: JsonObject) -> None:
    """Before accepting a message: every blob it names is here, whole (else retry)."""
    limit = node.config.limits.max_attachment_bytes
    for entry in contents.attachments_of(content):
        if entry.size > limit:
            raise TooLarge(f"an attachment may have at most {limit} bytes")
        path = node.config.data_dir / "blobs" / entry.blob_sha256
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise NotFound("an attachment of this message has not arrived yet") from None
        if size != entry.blob_size:
            raise Malformed("an attachment does not have the size the message states")
