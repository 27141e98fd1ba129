"""A real federation for tests: n nodes with real keys, TLS on loopback, SQLite
files in a temporary folder and a directory signed by a test operator."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from exchange.bench.local_federation import listening_ports
from exchange.config import NodeConfig, load_config
from exchange.core.clock import Clock, SystemClock
from exchange.core.directory import Directory, format_operator_key, sign_directory
from exchange.core.keys import SigningKeyPair
from exchange.core.peer_auth import HEADER, sign_call
from exchange.node.runner import RunningNode, start_node
from exchange.ops.keyfiles import tls_fingerprint
from exchange.ops.provision import AuthorityInfo, add_user, init_node, read_public_info
from exchange.service.node import Node

from .storage import storage_url

FAST_DELIVERY = """
[delivery]
backoff_initial_seconds = 0.05
backoff_max_seconds = 0.5
request_timeout_seconds = 5

[audit]
checkpoint_interval_seconds = 0.2
# witness rounds are driven by the tests themselves (Member.witness_round)
witness_interval_seconds = 3600
"""
PASSWORD = "correct horse battery staple"
ROLES = ("investigator", "liaison", "auditor", "admin")


async def wait_until(
    predicate: Callable[[], Any],
    *,
    timeout: float = 20.0,  # noqa: ASYNC109 -- a polling bound, not a cancellation timeout
    what: str = "",
) -> Any:
    """Poll an (async or sync) predicate until truthy, with a bound; no fixed sleeps."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.02)


async def all_delivered(node: Node) -> bool:
    """Every request the node sent is receipted (for ``wait_until``)."""
    waiting: int = await node.db.run(
        lambda c: c.execute(
            "SELECT COUNT(*) FROM requests WHERE direction = 'out' AND delivered_at IS NULL"
        ).fetchone()[0]
    )
    return waiting == 0


def free_port() -> int:
    """A free port below the ephemeral range: a node binds it a while after it is chosen,
    and a port of the ephemeral range may meanwhile become the source port of an
    outgoing connection ("address already in use", seen in CI)."""
    return listening_ports(1)[0]


@dataclass
class Member:
    authority_id: str
    data: Path
    port: int
    running: RunningNode | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def config(self) -> NodeConfig:
        return load_config(self.data / "node.toml")

    @property
    def node(self) -> Node:
        assert self.running is not None, f"{self.authority_id} is not running"
        return self.running.node

    async def witness_round(self) -> dict[str, Any]:
        from exchange.web.appkeys import WITNESS_KEY

        assert self.running is not None
        return await self.running.app[WITNESS_KEY].observe_all()

    async def checkpoint(self) -> Any:
        from exchange.service import audit

        return await audit.sign_now(self.node)

    @property
    def fingerprint(self) -> str:
        return tls_fingerprint(self.data / "keys" / "tls.crt")


@dataclass
class Federation:
    root: Path
    operator: SigningKeyPair
    clock: Clock = field(default_factory=SystemClock)
    members: dict[str, Member] = field(default_factory=dict)
    serial: int = 0
    clocks: dict[str, Clock] = field(default_factory=dict)  # a node's own clock, if skewed

    @classmethod
    def create(
        cls,
        root: Path,
        ids: list[str],
        *,
        clock: Clock | None = None,
        extra_config: str = FAST_DELIVERY,
        users: bool = True,
        infos: dict[str, AuthorityInfo] | None = None,
    ) -> Federation:
        clock = clock or SystemClock()
        now = clock.now()
        fed = cls(
            root, SigningKeyPair.generate(now - timedelta(days=1), timedelta(days=3650)), clock
        )
        operator_text = format_operator_key(fed.operator.public.public)
        ports = listening_ports(len(ids))  # all held while choosing: none repeats
        for authority_id, port in zip(ids, ports, strict=True):
            data = root / authority_id
            info = (infos or {}).get(authority_id) or AuthorityInfo(
                authority_id, f"{authority_id} authority", languages=("en", "fr")
            )
            init_node(
                data,
                info,
                operator_keys=[operator_text],
                listen_port=port,
                directory_source="../directory.json",
                clock=clock,
                storage_url=storage_url(),
            )
            with (data / "node.toml").open("a") as handle:
                handle.write(extra_config)
            if users:
                for role in ROLES:
                    add_user(data, username=role, password=PASSWORD, role=role, clock=clock)
            fed.members[authority_id] = Member(authority_id, data, port)
        fed.publish()
        return fed

    def directory(self, *, valid: timedelta = timedelta(days=30)) -> Directory:
        now = self.clock.now()
        directory = Directory(
            serial=self.serial, issued_at=now, expires_at=now + valid, authorities=()
        )
        for member in self.members.values():
            directory = directory.with_authority(read_public_info(member.data))
        return directory

    def publish(self, *, valid: timedelta = timedelta(days=30)) -> bytes:
        """Sign a new directory (next serial) and write it where every node reads it."""
        self.serial += 1
        document = sign_directory(self.directory(valid=valid), self.operator)
        (self.root / "directory.json").write_bytes(document)
        return document

    async def start(self, authority_id: str | None = None) -> None:
        for member in self._select(authority_id):
            if member.running is None:
                clock = self.clocks.get(member.authority_id, self.clock)
                member.running = await start_node(member.config, clock=clock)

    async def stop(self, authority_id: str | None = None) -> None:
        for member in self._select(authority_id):
            if member.running is not None:
                await member.running.stop()
                member.running = None

    def _select(self, authority_id: str | None) -> list[Member]:
        return [self.members[authority_id]] if authority_id else list(self.members.values())

    def __getitem__(self, authority_id: str) -> Member:
        return self.members[authority_id]


class ApiClient:
    """A logged-in user of one node's local API (cookie + CSRF token)."""

    def __init__(self, member: Member) -> None:
        self.member = member
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""
        self.ssl = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))

    async def login(self, username: str, password: str = PASSWORD) -> ApiClient:
        status, body = await self.call(
            "POST", "/api/login", {"username": username, "password": password}
        )
        assert status == 200, body
        self.csrf = body["csrf_token"]
        return self

    async def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        typed = {"Content-Type": "application/json"} if raw is None and body is not None else {}
        hdrs = {"X-CSRF-Token": self.csrf, **typed, **(headers or {})}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        async with self.session.request(
            method, self.member.url + path, data=data, headers=hdrs, ssl=self.ssl
        ) as response:
            text = await response.read()
            try:
                return response.status, json.loads(text)
            except ValueError:
                return response.status, text

    async def close(self) -> None:
        await self.session.close()


async def peer_post(
    fed: Federation,
    sender: str,
    recipient: str,
    path: str,
    body: bytes,
    *,
    sign_as: str | None = None,
    key: SigningKeyPair | None = None,
) -> tuple[int, Any]:
    """POST to a node's peer API as ``sender`` would (signed X-Exchange-Auth), with the
    current key of ``sign_as or sender``, or with ``key`` (a stolen one, say)."""
    member = fed[recipient]
    if key is None:
        signer = fed[sign_as or sender]
        assert signer.running is not None
        key = signer.node.keys.current_signing(fed.clock.now())
    auth = sign_call(
        method="POST",
        path=path,
        sender=sender,
        recipient=recipient,
        body=body,
        key=key,
        now=fed.clock.now(),
    )
    return await signed_call(member, "POST", path, body, auth)


async def signed_call(
    member: Member, method: str, path: str, body: bytes, auth: str
) -> tuple[int, Any]:
    """``body`` to ``member``'s peer API under the ``X-Exchange-Auth`` header ``auth``."""
    async with (
        aiohttp.ClientSession() as session,
        session.request(
            method,
            member.url + path,
            data=body,
            headers={HEADER: auth},
            ssl=aiohttp.Fingerprint(bytes.fromhex(member.fingerprint)),
        ) as response,
    ):
        return response.status, json.loads(await response.read())


def client_ssl() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
