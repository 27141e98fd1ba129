"""``exchange evidence export``: one request's evidence bundle, from a node's data folder.

Reads the database read-only and decrypts the evidence documents with the storage key
in ``keys/``: for each message of the request, the evidence document the sender signed
(ours as sealed, a peer's as decrypted), the receipt or refusal its recipient signed,
the same for the membership messages of the request's case exchanged with its other
party (``store/case_evidence``), and the directory documents in force at each of their
times (``directory_history``).
The bundle is checked with ``verify_bundle`` before it is written: a node never hands
out a bundle that does not verify. The file is new (never overwritten), mode 0600.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..config import load_config
from ..core.canonical import format_time, loads_canonical
from ..core.clock import SystemClock
from ..core.directory import Directory, verify_directory
from ..core.envelope import Header
from ..core.errors import DirectoryRejected, ExchangeError, NotFound
from ..core.evidence_bundle import Item, build_bundle, in_force, verify_bundle
from ..core.receipt import parse_receipt
from ..core.refusal import parse_refusal
from ..store import directory_cache
from ..store.case_evidence import case_evidence_of
from ..store.engine import open_reader
from ..store.messages import MessageEvidence, evidence_of
from .keyfiles import write_private
from .period_keys import open_vault


@dataclass(frozen=True)
class Export:
    """The bundle written, and what it proves (``verify_bundle``'s sentences)."""

    path: Path
    size: int
    lines: list[str]


@dataclass(frozen=True)
class _Signed:
    """A directory this node installed, verified, with the operator keys that sign it."""

    directory: Directory
    document: bytes
    keys: tuple[bytes, ...]


def export_request(
    data: Path, request_id: str, out: Path, *, passphrase: bytes | None = None
) -> Export:
    if out.exists():
        raise FileExistsError(17, "refusing to overwrite an existing file", str(out))
    config = load_config(data / "node.toml")
    vault = open_vault(config, SystemClock(), passphrase)  # reads KEKs, never writes one
    conn = open_reader(config)
    try:
        messages = evidence_of(conn, vault, request_id)
        case_messages = case_evidence_of(conn, vault, request_id)
        history = directory_cache.history(conn)
    finally:
        conn.close()
    if not messages:
        raise NotFound(f"request {request_id!r} has no messages")
    # the case's membership statements with the other party, then the request's
    # messages, in the order their senders signed them
    items = sorted((_item(m) for m in case_messages + messages), key=lambda i: _times(i)[0])
    signed = _verified(history, config.operator_keys)
    needed = _needed(signed, [t for item in items for t in _times(item)])
    keys = [k for k in config.operator_keys if any(k in s.keys for s in needed)]
    bundle = build_bundle(operator_keys=keys, directories=[s.document for s in needed], items=items)
    lines = verify_bundle(bundle)
    write_private(out, bundle, new=True)
    return Export(out, len(bundle), lines)


def _item(message: MessageEvidence) -> Item:
    if message.evidence is None:
        raise NotFound(
            f"message {message.msg_id} ({message.type}) has no evidence document: it was sent"
            " before evidence was kept (migration 9) or retention erased it"
        )
    if message.receipt is not None:
        return Item(message.evidence, receipt=message.receipt)
    # No receipt: the latest refusal, if any (a refusal names the envelope, not content).
    return Item(message.evidence, refusal=message.refusals[-1] if message.refusals else None)


def _times(item: Item) -> list[datetime]:
    """The times the bundle's signatures are checked at."""
    header = Header.from_json(loads_canonical(item.evidence, what="evidence document")["header"])
    times = [header.created_at]
    if item.receipt is not None:
        times.append(parse_receipt(item.receipt).received_at)
    if item.refusal is not None:
        times.append(parse_refusal(loads_canonical(item.refusal, what="refusal")).refused_at)
    return times


def _verified(
    history: list[directory_cache.HeldDirectory], pinned: tuple[bytes, ...]
) -> list[_Signed]:
    """Each installed directory that the pinned operator keys still verify."""
    signed = []
    for held in history:
        directory, keys = None, []
        for key in pinned:
            try:
                directory = verify_directory(
                    held.document, pinned_operator_keys=(key,), now=datetime.now(UTC),
                    check_time=False,
                )  # fmt: skip
            except DirectoryRejected:
                continue
            keys.append(key)
        if directory is not None:
            signed.append(_Signed(directory, held.document, tuple(keys)))
    return signed


def _needed(signed: list[_Signed], times: list[datetime]) -> list[_Signed]:
    """The directory in force at each time, once each, by serial: the verifier, given
    only these, picks the same one at each time as it would among all."""
    by_serial = {s.directory.serial: s for s in signed}
    chosen: dict[int, _Signed] = {}
    for at in times:
        try:
            directory = in_force([s.directory for s in signed], at)
        except ExchangeError as exc:
            raise NotFound(
                f"no directory installed here was in force at {format_time(at)} (directories"
                " are kept from migration 10 on)"
            ) from exc
        chosen[directory.serial] = by_serial[directory.serial]
    return [chosen[serial] for serial in sorted(chosen)]
