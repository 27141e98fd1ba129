"""Evidence bundles: what a node holds of one request, checkable by anyone, offline.

A bundle (``exchange/evidence-bundle/v1``, docs/PROTOCOL.md) carries, for each message,
the sender-signed evidence document (header, content, evidence signature), the receipt
or refusal its recipient signed, and the directory documents (signed by the operator
keys it names) needed to check every signature against the keys valid at its time.
Every byte of it is covered by a signature or a hash, and it is canonical JSON, so a
bundle changed in any way is refused (``verify_bundle`` raises, never half-answers).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .canonical import (
    JsonObject,
    b64d,
    b64e,
    canonical_json,
    format_time,
    loads_canonical,
    sha256_hex,
)
from .directory import Directory, verify_directory
from .envelope import Header, verify_evidence
from .errors import DirectoryRejected, Malformed, UnknownSender
from .handling import describe, evaluation_of, handling_of
from .receipt import parse_receipt, verify_receipt
from .refusal import parse_refusal, verify_refusal

FORMAT = "exchange/evidence-bundle/v1"
MAX_BUNDLE_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class Item:
    """One message of the request: its evidence document and its recipient's answer."""

    evidence: bytes
    receipt: bytes | None = None
    refusal: bytes | None = None


def build_bundle(
    *, operator_keys: list[bytes], directories: list[bytes], items: list[Item]
) -> bytes:
    """The bundle's canonical bytes (``directories`` in serial order)."""
    doc: JsonObject = {
        "format": FORMAT,
        "operator_keys": [b64e(k) for k in operator_keys],
        "directories": [b64e(d) for d in directories],
        "messages": [
            {
                "evidence": b64e(i.evidence),
                "receipt": loads_canonical(i.receipt, what="receipt") if i.receipt else None,
                "refusal": loads_canonical(i.refusal, what="refusal") if i.refusal else None,
            }
            for i in items
        ],
    }
    return canonical_json(doc)


def verify_bundle(data: bytes) -> list[str]:
    """Check every signature and hash of a bundle; what it proves, in plain sentences.

    Raises an ``ExchangeError`` at the first thing that does not hold."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise Malformed("bundle is too large")
    doc = loads_canonical(data, max_depth=16, what="evidence bundle")
    if set(doc) != {"format", "operator_keys", "directories", "messages"}:
        raise Malformed("bundle must be {format, operator_keys, directories, messages}")
    if doc["format"] != FORMAT:
        raise Malformed(f"bundle format must be {FORMAT}")
    keys, directories, messages = doc["operator_keys"], doc["directories"], doc["messages"]
    if not isinstance(keys, list) or not isinstance(directories, list):
        raise Malformed("operator_keys and directories must be lists")
    if not isinstance(messages, list) or not messages or not directories or not keys:
        raise Malformed("a bundle has operator keys, directories and messages")
    operators = [b64d(k, field="operator key", length=32) for k in keys]
    held = _directories([b64d(d, field="directory") for d in directories], operators)
    lines = [
        f"Directories: serials {', '.join(str(d.serial) for d in held)}, signed by operator"
        f" key(s) {', '.join('sha256:' + sha256_hex(k)[:16] for k in operators)}"
        " (compare with the operator keys you trust)."
    ]
    conditions: list[str] = []
    for item in messages:
        lines.extend(_message(item, held, conditions))
    # first, where no reader can miss them: the conditions of use each sender signed
    return conditions + lines


def _directories(documents: list[bytes], operators: list[bytes]) -> list[Directory]:
    """Each directory verified, canonical, in rising serial order; each operator key
    signs at least one (a key nothing uses is no part of the proof)."""
    held: list[Directory] = []
    used: set[bytes] = set()
    for document in documents:
        loads_canonical(document, max_depth=16, what="directory")
        found = None
        for key in operators:
            try:
                found = verify_directory(
                    document, pinned_operator_keys=(key,), now=datetime.min, check_time=False
                )
            except DirectoryRejected:
                continue
            used.add(key)
        if found is None:
            raise DirectoryRejected("a directory of the bundle is not signed by its operator keys")
        if held and found.serial <= held[-1].serial:
            raise Malformed("directories must be in rising serial order")
        held.append(found)
    if used != set(operators) or len(operators) != len(set(operators)):
        raise Malformed("every operator key of the bundle must sign one of its directories")
    return held


def in_force(held: list[Directory], at: datetime) -> Directory:
    """The directory in force at ``at``: the highest serial issued by then, unexpired."""
    for directory in reversed(held):
        if directory.issued_at <= at < directory.expires_at:
            return directory
    raise UnknownSender(f"no directory of the bundle was in force at {format_time(at)}")


def _message(item: object, held: list[Directory], conditions: list[str]) -> list[str]:
    if not isinstance(item, dict) or set(item) != {"evidence", "receipt", "refusal"}:
        raise Malformed("a message must be {evidence, receipt, refusal}")
    evidence = b64d(item["evidence"], field="evidence")
    header, directory, content = _evidence(evidence, held)
    what = f"{header.sender} sent {header.type} {header.msg_id} to {header.recipient}"
    lines = [
        f"{what}, signed at {format_time(header.created_at)} with key {header.sender_key_id}"
        f" (directory serial {directory.serial}); evidence sha256 {sha256_hex(evidence)}."
    ]
    conditions.extend(_conditions(header, content))
    lines.extend(_statement(header, content))
    receipt, refusal = item["receipt"], item["refusal"]
    if receipt is not None and refusal is not None:
        raise Malformed("a message has a receipt or a refusal, not both")
    if receipt is not None:
        lines.append(_receipt(receipt, header, evidence, held))
    elif refusal is not None:
        lines.append(_refusal(refusal, header, held))
    else:
        lines.append(f"  No acknowledgement from {header.recipient} in this bundle.")
    return lines


def _conditions(header: Header, content: JsonObject) -> list[str]:
    """What the signed content says of its conditions of use and references (issue 16);
    nothing for a message that carries none."""
    found = []
    handling = handling_of(content)
    if handling is not None:
        found.append(
            f"CONDITIONS OF USE signed by {header.sender} on its {header.type}"
            f" {header.msg_id}: {describe(handling, evaluation_of(content))}."
        )
    reference = content.get("reference")
    if isinstance(reference, str):
        found.append(f"Reference of {header.sender} ({header.type}): {reference!r}.")
    return found


def _statement(header: Header, content: JsonObject) -> list[str]:
    """What a signed case message or consent message states (issue 16), in words; the
    signature over it was checked by ``_evidence``."""
    who, case = header.sender, content.get("case")
    named = f"case {case.get('origin')}/{case.get('case_id')}" if isinstance(case, dict) else ""
    if header.type == "case_invitation":
        return [f"  {who} invited {header.recipient} to {named}."]
    if header.type == "case_acceptance":
        answer = "accepted" if content.get("accepted") is True else "declined"
        return [f"  {who} {answer} the invitation to {named}."]
    if header.type == "case_departure":
        return [f"  {who} left {named}."]
    if header.type == "case_membership":
        members = content.get("members")
        listed = (
            ", ".join(
                f"{m.get('authority')} {m.get('state')}" for m in members if isinstance(m, dict)
            )
            if isinstance(members, list)
            else ""
        )
        return [f"  {who} states the members of {named} (list {content.get('serial')}): {listed}."]
    if header.type == "consent_request":
        purpose = {"use": "use in other proceedings", "disclosure": "passing on"}
        wanted = purpose.get(str(content.get("purpose")), str(content.get("purpose")))
        return [f"  CONSENT asked by {who} of {header.recipient}, for {wanted}."]
    if header.type == "consent":
        answer = "GRANTED" if content.get("granted") is True else "REFUSED"
        return [f"  CONSENT {answer} by {who}, answering {content.get('about')}."]
    return []


def _evidence(evidence: bytes, held: list[Directory]) -> tuple[Header, Directory, JsonObject]:
    doc = loads_canonical(evidence, max_depth=12, what="evidence document")
    if set(doc) != {"header", "content", "signature"} or not isinstance(doc["content"], dict):
        raise Malformed("evidence document must be {header, content, signature}")
    header = Header.from_json(doc["header"])
    signature = b64d(doc["signature"], field="signature", length=64)
    directory = in_force(held, header.created_at)
    authority = directory.get(header.sender)
    key = authority.signing_key(header.sender_key_id) if authority else None
    if key is None:
        raise UnknownSender(f"{header.sender}'s key is not in the directory of its time")
    key.require_valid_at(header.created_at)
    verify_evidence(header, doc["content"], signature, key)
    return header, directory, doc["content"]


def _receipt(data: object, header: Header, evidence: bytes, held: list[Directory]) -> str:
    if not isinstance(data, dict):
        raise Malformed("receipt must be an object")
    receipt = parse_receipt(data)
    directory = in_force(held, receipt.received_at)
    verify_receipt(
        receipt,
        directory=directory,
        expected_msg_id=header.msg_id,
        expected_sender=header.sender,
        expected_recipient=header.recipient,
        expected_envelope_sha256=receipt.envelope_sha256,
        expected_evidence_sha256=sha256_hex(evidence),
    )
    return (
        f"  {header.recipient} acknowledged receiving exactly this document at"
        f" {format_time(receipt.received_at)} (receipt signed with key {receipt.key_id},"
        f" directory serial {directory.serial})."
    )


def _refusal(data: object, header: Header, held: list[Directory]) -> str:
    if not isinstance(data, dict):
        raise Malformed("refusal must be an object")
    refusal = parse_refusal(data)
    directory = in_force(held, refusal.refused_at)
    verify_refusal(
        refusal,
        directory=directory,
        expected_code=refusal.code,
        expected_msg_id=header.msg_id,
        expected_sender=header.sender,
        expected_recipient=header.recipient,
        expected_envelope_sha256=refusal.envelope_sha256,
    )
    return (
        f"  {header.recipient} refused message {header.msg_id} ({refusal.code}) at"
        f" {format_time(refusal.refused_at)} (signed with key {refusal.key_id}; a refusal"
        " names the envelope, not its content)."
    )
