"""What a node does, independent of HTTP: create and answer requests, accept
envelopes from peers. Handlers and the CLI call these; they decide nothing."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import structlog

from ..config import NodeConfig
from ..core import content as contents
from ..core import ids
from ..core.canonical import format_time, parse_time, sha256_hex
from ..core.clock import Clock
from ..core.deadlines import DeadlineFacts, initial_plan
from ..core.directory import Authority
from ..core.envelope import Opened, open_, seal
from ..core.errors import (
    ExchangeError,
    InvalidRequest,
    Malformed,
    NotFound,
    TooLarge,
    UnknownSender,
)
from ..core.keys import KeyRing, SigningKeyPair
from ..core.receipt import issue_receipts
from ..core.vault import Vault
from ..store import evidence as evidence_store
from ..store import requests as store
from ..store.db import Database
from ..store.deadlines import NEVER
from .directory import DirectoryHolder

log = structlog.get_logger("exchange.service")


@dataclass(frozen=True)
class Sealed:
    """A request ready to store: the sealed message and what goes with it."""

    message: store.OutgoingMessage
    attachment_ids: list[str]
    plan: tuple[str, str] | None
    check_at: datetime | None


@dataclass
class Node:
    config: NodeConfig
    db: Database
    keys: KeyRing
    audit_key: SigningKeyPair
    vault: Vault
    directory: DirectoryHolder
    clock: Clock
    wake_delivery: Callable[[], None] = field(default=lambda: None)
    wake_deadlines: Callable[[], None] = field(default=lambda: None)
    notice_deadline: Callable[[datetime | None], None] = field(default=lambda _: None)

    def __post_init__(self) -> None:
        # One object, so that creates queued together are stored by one call
        # (Database.run_batched merges the items of the same batch function).
        self._create_batch = functools.partial(
            store.create_requests, vault=self.vault, me=self.config.authority_id
        )

    @property
    def me(self) -> str:
        return self.config.authority_id

    def signing_key(self, now: datetime) -> SigningKeyPair:
        """The newest valid signing key that peers can already verify.

        After ``exchange keys rotate`` the new key is used only once the directory
        publishes it; until then the previous key signs, so peers never see a key id
        they cannot look up.
        """
        directory = self.directory.current
        entry = directory.get(self.me) if directory else None
        if entry is not None:
            published = {k.key_id for k in entry.signing_keys}
            usable = [
                k
                for k in self.keys.signing
                if k.public.key_id in published and k.public.valid_at(now)
            ]
            if usable:
                return max(usable, key=lambda k: k.public.not_before)
        return self.keys.current_signing(now)

    # --- outgoing -------------------------------------------------------------

    async def create_request(
        self,
        *,
        actor: str,
        to: str,
        kind: str,
        urgency: str,
        subject: str,
        body: str,
        language: str,
        deadline: str | None = None,
        attachments: list[str] | None = None,
    ) -> dict[str, Any]:
        now = self.clock.now()
        form = {"to": to, "kind": kind, "urgency": urgency, "subject": subject, "body": body,
                "language": language, "deadline": deadline}  # fmt: skip
        request_id = ids.request_id()
        sealed = await self._prepare(form, attachments or [], actor=actor, now=now)
        new = store.NewRequest(
            request_id, sealed.message, actor, now, sealed.attachment_ids, sealed.plan
        )
        await self.db.run_batched(self._create_batch, new)
        return self._queued(request_id, sealed, urgency)

    def _draft_form(
        self, form: dict[str, str | None], attachments: list[str] | None
    ) -> dict[str, Any]:
        """A draft's form, checked as a request would be (sealed only when sent)."""
        self._peer(str(form["to"]))
        contents.request_content(
            kind=str(form["kind"]),
            urgency=str(form["urgency"]),
            language=str(form["language"]),
            subject=str(form["subject"]),
            body=str(form["body"]),
            deadline=None,
            max_body_chars=self.config.limits.max_body_chars,
        )
        deadline = form.get("deadline")
        if deadline:
            parse_time(deadline, field="deadline")
        return {**form, "attachments": list(attachments or [])}

    async def save_draft(
        self, *, actor: str, attachments: list[str] | None = None, **form: str | None
    ) -> dict[str, Any]:
        """Keep a complete request without sending it (checked now, sealed when sent)."""
        now = self.clock.now()
        saved = self._draft_form(form, attachments)
        request_id = ids.request_id()
        await self.db.run(
            lambda c: store.save_draft(
                c, self.vault, me=self.me, request_id=request_id, form=saved, actor=actor, now=now
            )
        )
        return {"id": request_id, "status": "draft"}

    async def update_draft(
        self,
        *,
        actor: str,
        request_id: str,
        attachments: list[str] | None = None,
        **form: str | None,
    ) -> dict[str, Any]:
        """Replace the form of one of the actor's own drafts."""
        now = self.clock.now()
        saved = self._draft_form(form, attachments)

        def update(conn: Any) -> None:
            self._own_draft(conn, actor, request_id)
            store.update_draft(
                conn, self.vault, me=self.me, request_id=request_id, form=saved, actor=actor,
                now=now,
            )  # fmt: skip

        await self.db.run(update)
        return {"id": request_id, "status": "draft"}

    async def discard_draft(self, *, actor: str, request_id: str) -> dict[str, Any]:
        """Delete one of the actor's own drafts (nothing was ever sent)."""
        now = self.clock.now()

        def discard(conn: Any) -> None:
            self._own_draft(conn, actor, request_id)
            store.discard_draft(conn, me=self.me, request_id=request_id, actor=actor, now=now)

        await self.db.run(discard)
        return {"id": request_id, "status": "discarded"}

    async def read_own_draft(self, *, actor: str, request_id: str) -> dict[str, Any]:
        """The form of one of the actor's own drafts (to edit or send it)."""

        def load(conn: Any) -> dict[str, Any]:
            self._own_draft(conn, actor, request_id)
            return store.read_draft(conn, self.vault, request_id)

        return await self.db.run(load)

    def _own_draft(self, conn: Any, actor: str, request_id: str) -> dict[str, Any]:
        row = store.get_request(conn, request_id)
        if row["created_by"] != actor:
            raise NotFound("no such request")
        if row["status"] != "draft":
            raise InvalidRequest(f"the request is already {row['status']}")
        return row

    async def send_draft(self, *, actor: str, request_id: str) -> dict[str, Any]:
        now = self.clock.now()
        saved = await self.read_own_draft(actor=actor, request_id=request_id)
        ids = list(saved.pop("attachments", []))
        sealed = await self._prepare(saved, ids, actor=actor, now=now)
        await self.db.run(
            lambda c: store.send_draft(
                c,
                self.vault,
                me=self.me,
                request_id=request_id,
                message=sealed.message,
                actor=actor,
                now=now,
                attachment_ids=sealed.attachment_ids,
                deadline_plan=sealed.plan,
            )
        )
        return self._queued(request_id, sealed, str(saved["urgency"]))

    async def _prepare(
        self, form: dict[str, Any], attachments: list[str], *, actor: str, now: datetime
    ) -> Sealed:
        """Check a request's fields, compute its deadline and seal it for the recipient."""
        recipient = self._peer(str(form["to"]))
        urgency = str(form["urgency"])
        deadline = form.get("deadline")
        own_deadline = parse_time(deadline, field="deadline") if deadline else None
        if own_deadline is not None and own_deadline <= now:
            raise InvalidRequest("deadline must be in the future")
        default = now + self.config.deadlines.get(urgency, self.config.deadlines["standard"])
        effective = min(own_deadline, default) if own_deadline else default
        content = contents.request_content(
            kind=str(form["kind"]),
            urgency=urgency,
            language=str(form["language"]),
            subject=str(form["subject"]),
            body=str(form["body"]),
            deadline=effective,
            max_body_chars=self.config.limits.max_body_chars,
        )
        ids = await self._with_attachments(content, attachments, owner=actor)
        message = self._seal(
            "request",
            content,
            recipient_id=recipient.authority_id,
            now=now,
            emergency=urgency == "emergency",
        )
        plan, check_at = self._deadline_plan(urgency, now, effective, now)
        return Sealed(message, ids, plan, check_at)

    def _queued(self, request_id: str, sealed: Sealed, urgency: str) -> dict[str, Any]:
        log.info(
            "request_queued", request_id=request_id, peer=sealed.message.recipient, urgency=urgency
        )
        self.wake_delivery()
        self.notice_deadline(sealed.check_at)
        return {"id": request_id, "status": "queued", "msg_id": sealed.message.msg_id}

    async def follow_up(
        self, *, actor: str, request_id: str, msg_type: str, fields: dict[str, Any]
    ) -> dict[str, Any]:
        """Acknowledge, answer or reject a request we received."""
        now = self.clock.now()
        row = await self.db.run(lambda c: store.get_request(c, request_id))
        if row["direction"] != "in":
            raise InvalidRequest("only received requests can be acknowledged, answered or rejected")
        fields = dict(fields)
        wanted = fields.pop("attachments", None) or []
        content = contents.follow_up_content(
            msg_type, origin=row["origin"], msg_id=row["msg_id"], **fields
        )
        if wanted and msg_type != "response":
            raise InvalidRequest("only a response can carry attachments")
        ids = await self._with_attachments(content, wanted, owner=actor)
        contents.validate(msg_type, content, max_body_chars=self.config.limits.max_body_chars)
        message = self._seal(
            msg_type,
            content,
            recipient_id=row["counterpart"],
            now=now,
            emergency=row["urgency"] == "emergency",
        )
        await self.db.run(
            lambda c: store.add_follow_up(
                c,
                self.vault,
                me=self.me,
                request_id=request_id,
                message=message,
                actor=actor,
                now=now,
                attachment_ids=ids,
            )
        )
        log.info("follow_up_queued", request_id=request_id, type=msg_type)
        self.wake_delivery()
        self.wake_deadlines()
        return await self.db.run(lambda c: store.get_request(c, request_id))

    async def _with_attachments(
        self, content: dict[str, Any], ids: list[str], *, owner: str
    ) -> list[str]:
        """Put the manifest of the user's own unsent uploads into the content."""
        if not ids:
            return []
        entries = await self.db.run(lambda c: evidence_store.claim(c, self.vault, ids, owner=owner))
        content["attachments"] = [e.to_json() for e in entries]
        return ids

    def check_blobs(self, content: dict[str, Any]) -> None:
        """Before accepting a message: every blob it names is here, whole (else retry)."""
        limit = self.config.limits.max_attachment_bytes
        for entry in contents.attachments_of(content):
            if entry.size > limit:
                raise TooLarge(f"an attachment may have at most {limit} bytes")
            path = self.config.data_dir / "blobs" / entry.blob_sha256
            try:
                size = path.stat().st_size
            except FileNotFoundError:
                raise NotFound("an attachment of this message has not arrived yet") from None
            if size != entry.blob_size:
                raise Malformed("an attachment does not have the size the message states")

    def _deadline_plan(
        self, urgency: str, created_at: datetime, deadline: datetime | None, now: datetime
    ) -> tuple[tuple[str, str] | None, datetime | None]:
        """A new request's deadline state and next check, so no sweep must write now."""
        if deadline is None:
            return None, None
        facts = DeadlineFacts(urgency, created_at, deadline)
        state, check_at = initial_plan(facts, self.config.escalation.policy(), now)
        return (state.value, format_time(check_at) if check_at else NEVER), check_at

    def _peer(self, authority_id: str) -> Authority:
        directory = self.directory.require()
        recipient = directory.get(authority_id)
        if recipient is None:
            raise NotFound(f"authority {authority_id!r} is not in the directory")
        if authority_id == self.me:
            raise InvalidRequest("a node cannot send a request to itself")
        return recipient

    def _seal(
        self,
        msg_type: str,
        content: dict[str, Any],
        *,
        recipient_id: str,
        now: datetime,
        emergency: bool = False,
    ) -> store.OutgoingMessage:
        recipient = self._peer(recipient_id)
        msg_id = ids.message_id()
        sealed = seal(
            content,
            msg_type=msg_type,
            msg_id=msg_id,
            sender_id=self.me,
            sender_key=self.signing_key(now),
            recipient=recipient,
            now=now,
        )
        return store.OutgoingMessage(
            msg_id=msg_id,
            type=msg_type,
            recipient=recipient_id,
            created_at=now,
            content=content,
            envelope=sealed.data,
            envelope_sha256=sha256_hex(sealed.data),
            content_json=sealed.content_json,
            expires_at=now + self.config.delivery.give_up_after,
            emergency=emergency,
        )

    # --- incoming -------------------------------------------------------------

    async def accept_envelope(self, data: bytes, *, caller: str) -> bytes:
        """Verify, decrypt and store one envelope exactly once; return the signed receipt."""
        (result,) = await self.accept_envelopes([data], caller=caller)
        if isinstance(result, ExchangeError):
            raise result
        return result

    async def accept_envelopes(
        self, envelopes: list[bytes | ExchangeError], *, caller: str
    ) -> list[bytes | ExchangeError]:
        """A transaction's envelopes: each verified, decrypted and stored exactly once.

        One result per envelope, in order: the signed receipt, or the error that
        refused that envelope alone (an item may arrive as an error already, e.g.
        bad base64). The accepted ones are stored in one database job.
        """
        now = self.clock.now()
        results: list[bytes | ExchangeError] = []
        opened: list[tuple[int, Opened]] = []
        for data in envelopes:
            try:
                if isinstance(data, ExchangeError):
                    raise data
                opened.append((len(results), self._open(data, caller=caller, now=now)))
                results.append(b"")  # filled in once stored
            except ExchangeError as exc:
                results.append(exc)
        # One signature for the transaction's receipts (a batch: core/receipt.py).
        receipts = []
        if opened:
            receipts = issue_receipts(
                [(o.header.msg_id, o.header.sender, o.envelope_sha256) for _, o in opened],
                recipient=self.me,
                received_at=now,
                key=self.signing_key(now),
            )
        accepted = [
            (position, self._arrival(o, receipt.to_bytes(), now))
            for (position, o), receipt in zip(opened, receipts, strict=True)
        ]
        arrivals = [arrival for _, arrival in accepted]
        stored = await self.db.run(
            lambda c: store.receive_all(c, self.vault, me=self.me, arrivals=arrivals, now=now)
        )
        received = []
        for (position, arrival), outcome in zip(accepted, stored, strict=True):
            results[position] = outcome
            if isinstance(outcome, bytes):
                received.append(arrival.message.msg_id)
                if arrival.message.type == "request":
                    self.notice_deadline(arrival.check_at)
                else:
                    self.wake_deadlines()  # an acknowledgement or answer may stop a clock
        if received:
            log.info("envelopes_accepted", peer=caller, count=len(received), msg_ids=received)
        return results

    def _open(self, data: bytes, *, caller: str, now: datetime) -> Opened:
        """Open and check one envelope (nothing stored yet)."""
        opened = open_(
            data,
            directory=self.directory.require(),
            me=self.me,
            keys=self.keys,
            now=now,
            max_bytes=self.config.limits.max_envelope_bytes,
        )
        header = opened.header
        if header.sender != caller:
            raise UnknownSender("the envelope's sender is not the calling peer")
        contents.validate(
            header.type, opened.content, max_body_chars=self.config.limits.max_body_chars
        )
        self.check_blobs(opened.content)
        return opened

    def _arrival(self, opened: Opened, receipt: bytes, now: datetime) -> store.Arrival:
        """An opened envelope with its signed receipt, ready to store."""
        header = opened.header
        incoming = store.IncomingMessage(
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
            plan, check_at = self._deadline_plan(
                opened.content["urgency"],
                header.created_at,
                parse_time(opened.content["deadline"]),
                now,
            )
        return store.Arrival(incoming, ids.request_id(), plan, check_at)
