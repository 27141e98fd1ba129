"""The node as the use cases see it: its settings, database, keys, directory and
clock, passed to every use case (``exchange.service.*``) instead of looked up."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..config import NodeConfig
from ..core.clock import Clock
from ..core.directory import Authority
from ..core.errors import InvalidRequest, NotFound
from ..core.keys import KeyRing, SigningKeyPair
from ..core.search import Indexes
from ..core.vault import Vault
from ..store import requests as store
from ..store.db import Database
from .directory import DirectoryHolder


class WakeDelivery(Protocol):
    """Tell the delivery worker something was queued: for ``peer``, whose queue alone
    it then looks at; without one (unsure whom it is for), it looks at every queue."""

    def __call__(self, peer: str | None = None) -> None: ...


def _no_delivery(peer: str | None = None) -> None:
    """Until the node starts its delivery worker."""


@dataclass
class Node:
    """What every use case works with. The wake-up callbacks are the background
    workers' (no-ops until the node starts them)."""

    config: NodeConfig
    db: Database
    keys: KeyRing
    audit_key: SigningKeyPair
    vault: Vault
    directory: DirectoryHolder
    clock: Clock
    wake_delivery: WakeDelivery = field(default=_no_delivery)
    wake_deadlines: Callable[[], None] = field(default=lambda: None)
    notice_deadline: Callable[[datetime | None], None] = field(default=lambda _: None)
    search: Indexes = field(default_factory=Indexes)  # in memory only (service/search.py)

    def __post_init__(self) -> None:
        # One object, so that creates queued together are stored by one call
        # (Database.run_batched merges the items of the same batch function).
        self.create_batch = functools.partial(
            store.create_requests, vault=self.vault, me=self.config.authority_id
        )

    @property
    def me(self) -> str:
        return self.config.authority_id

    def signing_key(self, now: datetime) -> SigningKeyPair:
        """The newest valid signing key that peers can already verify.

        After ``exchange keys rotate`` the new key is used only once the directory
        publishes it; until then the previous key signs, so peers never see a key id
        they cannot look up. A key the directory marks retired or revoked signs nothing.
        """
        directory = self.directory.current
        entry = directory.get(self.me) if directory else None
        if entry is not None:
            published = {k.key_id: k for k in entry.signing_keys}
            usable = [
                k
                for k in self.keys.signing
                if k.public.key_id in published
                and k.public.valid_at(now)
                and published[k.public.key_id].signs_at(now)
            ]
            if usable:
                return max(usable, key=lambda k: k.public.not_before)
        return self.keys.current_signing(now)

    def peer(self, authority_id: str) -> Authority:
        """A peer authority of the directory (never this node itself)."""
        directory = self.directory.require()
        recipient = directory.get(authority_id)
        if recipient is None:
            raise NotFound(f"authority {authority_id!r} is not in the directory")
        if authority_id == self.me:
            raise InvalidRequest("a node cannot send a request to itself")
        return recipient
