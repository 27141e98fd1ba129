"""What the admin does and sees: users, keys, peers and the directory held."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass

from ..core.canonical import JsonObject, format_time
from ..core.errors import InvalidRequest, Malformed
from ..core.passwords import hash_password
from ..core.roles import ALL, Role
from ..core.usernames import check_username
from ..ops.keyfiles import load_keyring
from ..ops.provision import rotate_keys
from ..store import directory_cache, peers, revocations, users
from ..store.directory_cache import EquivocationAlert
from ..store.peers import PeerStatus
from ..store.revocations import HeldRevocation
from ..store.users import UserRow
from .node import Node
from .sessions import Sessions, User

MIN_PASSWORD = 12


@dataclass(frozen=True)
class DirectoryStatus:
    serial: int
    expires_at: str
    loaded_at: str | None
    entries: int
    freshness: str = "fresh"  # core.directory_freshness.Freshness: the warning to show


@dataclass(frozen=True)
class Overview:
    users: list[UserRow]
    peers: list[PeerStatus]
    keys: list[JsonObject]
    directory: DirectoryStatus | None
    equivocations: list[EquivocationAlert]
    revocations: list[HeldRevocation]  # statements received straight from authorities


async def overview(node: Node) -> Overview:
    """Active users, every peer of the directory with its backlog, our keys, the
    directory's lifetime warning and its equivocation alerts."""
    directory = node.directory.current

    def read(
        c: sqlite3.Connection,
    ) -> tuple[
        list[UserRow], list[PeerStatus], str | None, list[EquivocationAlert], list[HeldRevocation]
    ]:
        loaded = peers.directory_loaded_at(c)
        alerts = directory_cache.equivocations(c)
        return users.active_users(c), peers.status(c), loaded, alerts, revocations.held(c)

    active, found, loaded_at, equivocations, held = await node.db.run(read)
    life = node.directory.lifetime()
    listed = {p.peer for p in found}
    for authority in directory.authorities if directory else ():
        if authority.authority_id not in listed and authority.authority_id != node.me:
            found.append(PeerStatus(authority.authority_id, 0, "unknown", None))
    status = None
    if directory is not None:
        status = DirectoryStatus(
            directory.serial,
            format_time(directory.expires_at),
            loaded_at,
            len(directory.authorities),
            life.state if life else "fresh",
        )
    keys = [k.public.to_json() for k in node.keys.signing]
    keys += [k.public.to_json() for k in node.keys.encryption]
    return Overview(active, sorted(found, key=lambda p: p.peer), keys, status, equivocations, held)


async def add_user(node: Node, actor: User, *, username: str, role: str, password: str) -> None:
    if role not in ALL:
        raise Malformed(f"role must be one of {', '.join(ALL)}")
    check_username(username)
    if len(password) < MIN_PASSWORD:
        raise InvalidRequest(f"a password needs at least {MIN_PASSWORD} characters")
    password_hash = await asyncio.to_thread(hash_password, password)
    now = node.clock.now()
    await node.db.run(
        lambda c: users.add_user(
            c,
            me=node.me,
            username=username,
            password_hash=password_hash,
            role=Role(role),
            actor=actor.username,
            now=now,
        )
    )


async def remove_user(node: Node, sessions: Sessions, actor: User, username: str) -> None:
    """Disable the user and end their sessions at once."""
    if username == actor.username:
        raise InvalidRequest("you cannot remove yourself")
    now = node.clock.now()
    await node.db.run(
        lambda c: users.remove_user(c, me=node.me, username=username, actor=actor.username, now=now)
    )
    sessions.forget_user(username)


async def rotate(node: Node) -> None:
    """New keys (audited as key_rotated); the node signs with them once the directory
    publishes them, and authority.json holds what to send to the operator."""
    await asyncio.to_thread(rotate_keys, node.config.data_dir, clock=node.clock)
    node.keys = await asyncio.to_thread(load_keyring, node.config.keys_dir)
