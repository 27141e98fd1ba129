"""Envelopes from peers: each verified (outer signature before decryption), decrypted,
checked, receipted and stored exactly once; a transaction's receipts share one
signature."""

from __future__ import annotations

from datetime import datetime

import structlog

from ..core import content as contents
from ..core import ids
from ..core.canonical import JsonObject, parse_time
from ..core.envelope import Opened, open_
from ..core.errors import ExchangeError, Malformed, NotFound, TooLarge, UnknownSender
from ..core.receipt import issue_receipts
from ..store import inbound as inbound_store
from ..store.inbound import Arrival
from ..store.messages import IncomingMessage
from . import sealing
from .node import Node

log = structlog.get_logger("exchange.service")


async def accept_envelope(node: Node, data: bytes, *, caller: str) -> bytes:
    """Verify, decrypt and store one envelope exactly once; return the signed receipt."""
    (result,) = await accept_envelopes(node, [data], caller=caller)
    if isinstance(result, ExchangeError):
        raise result
    return result


async def accept_envelopes(
    node: Node, envelopes: list[bytes | ExchangeError], *, caller: str
) -> list[bytes | ExchangeError]:
    """A transaction's envelopes: each verified, decrypted and stored exactly once.

    One result per envelope, in order: the signed receipt, or the error that
    refused that envelope alone (an item may arrive as an error already, e.g.
    bad base64). The accepted ones are stored in one database job.
    """
    now = node.clock.now()
    results: list[bytes | ExchangeError] = []
    opened: list[tuple[int, Opened]] = []
    for data in envelopes:
        try:
            if isinstance(data, ExchangeError):
                raise data
            opened.append((len(results), _open(node, data, caller=caller, now=now)))
            results.append(b"")  # filled in once stored
        except ExchangeError as exc:
            results.append(exc)
    # One signature for the transaction's receipts (a batch: core/receipt.py).
    receipts = []
    if opened:
        receipts = issue_receipts(
            [(o.header.msg_id, o.header.sender, o.envelope_sha256) for _, o in opened],
            recipient=node.me,
            received_at=now,
            key=node.signing_key(now),
        )
    accepted = [
        (position, _arrival(node, o, receipt.to_bytes(), now))
        for (position, o), receipt in zip(opened, receipts, strict=True)
    ]
    arrivals = [arrival for _, arrival in accepted]
    stored = await node.db.run(
        lambda c: inbound_store.receive_all(c, node.vault, me=node.me, arrivals=arrivals, now=now)
    )
    received = []
    for (position, arrival), outcome in zip(accepted, stored, strict=True):
        results[position] = outcome
        if isinstance(outcome, bytes):
            received.append(arrival.message.msg_id)
            if arrival.message.type == "request":
                node.notice_deadline(arrival.check_at)
            else:
                node.wake_deadlines()  # an acknowledgement or answer may stop a clock
    if received:
        log.info("envelopes_accepted", peer=caller, count=len(received), msg_ids=received)
    return results


def _open(node: Node, data: bytes, *, caller: str, now: datetime) -> Opened:
    """Open and check one envelope (nothing stored yet)."""
    opened = open_(
        data,
        directory=node.directory.require(),
        me=node.me,
        keys=node.keys,
        now=now,
        max_bytes=node.config.limits.max_envelope_bytes,
    )
    header = opened.header
    if header.sender != caller:
        raise UnknownSender("the envelope's sender is not the calling peer")
    contents.validate(header.type, opened.content, max_body_chars=node.config.limits.max_body_chars)
    check_blobs(node, opened.content)
    return opened


def _arrival(node: Node, opened: Opened, receipt: bytes, now: datetime) -> Arrival:
    """An opened envelope with its signed receipt, ready to store."""
    header = opened.header
    incoming = IncomingMessage(
        msg_id=header.msg_id,
        type=header.type,
        sender=header.sender,
        created_at=header.created_at,
        content=opened.content,
        envelope_sha256=opened.envelope_sha256,
        evidence={"header": header.to_json(), "signature": opened.evidence_signature.hex()},
        receipt=receipt,
        content_json=opened.content_json,
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
