"""A node at volume (issue 17): N requests in its database, then its start-up time, the
p99 of list pages (inbox, tracking board, case board; first and deep pages, filtered)
and of searches, through its real HTTPS API.

Generating a million requests through the protocol would take hours, so the requests
are written straight into a provisioned node's database, in bulk transactions, as the
node itself stores them: a request row (half sent by investigators, half received from
peers, most of them settled, some open with a deadline), its implicit case, and its
request message whose content (subject, body, reference) is sealed at rest by the
node's own vault (a fresh record key wrapped by the month's KEK, XChaCha20-Poly1305):
what start-up must decrypt to build the search index. Timelines, outbox rows and audit
entries are left out: no list or search reads them.
"""

from __future__ import annotations

import asyncio
import random
import secrets
import sqlite3
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp

from ..config import load_config
from ..core import cursor as cursors
from ..core.canonical import JsonObject, canonical_json, format_time
from ..core.clock import SystemClock
from ..core.vault import Vault
from ..ops.period_keys import open_vault
from ..ops.provision import add_user
from ..store.db import transaction
from ..store.engine import open_database
from ..store.messages import INSERT_MESSAGES, OutgoingMessage, message_row
from ..store.sql import insert_rows
from .local_federation import BenchNode, provision
from .processes import cpu_seconds, peak_rss_mb, spawn, stop, wait_healthy

ME = "ES-CNA"
PEERS = [
    f"{c}-{s}" for c in ("MA", "SN", "FR", "IT", "NL", "DE", "PT", "TN") for s in ("CNA", "PRD")
]
INVESTIGATORS = [f"investigator{i}" for i in range(8)]
BATCH = 20_000
YEARS = 5
# a few thousand words, drawn unevenly (a few frequent, most rare), as texts are
_SYLLABLES = ["na", "dor", "ma", "ri", "bo", "ta", "ga", "le", "sen", "mo", "ca", "ve", "lo"]
_WORDS = sorted({"".join(random.Random(i).choices(_SYLLABLES, k=3)) for i in range(6000)})


@dataclass(frozen=True)
class Filled:
    requests: int
    seconds: float
    references: list[str]  # a sample, to search for
    subjects: list[str]


def fill(data: Path, n: int, seed: int = 17) -> Filled:
    """Write ``n`` requests into the node's database at ``data`` (see the docstring)."""
    config = load_config(data / "node.toml")
    vault = open_vault(config, SystemClock())
    vault.keks.hold()
    db = open_database(config)
    rng = random.Random(seed)
    now = datetime.now(UTC)
    start, step = now - timedelta(days=365 * YEARS), timedelta(days=365 * YEARS) / max(n, 1)
    references, subjects = [], []
    started = time.perf_counter()
    try:
        for first in range(0, n, BATCH):
            rows = [
                _one(vault, rng, i, start + step * i, now)
                for i in range(first, min(n, first + BATCH))
            ]
            if first % (n // 10 or 1) < BATCH:
                references.append(rows[0].reference)
                subjects.append(rows[0].subject_word)
            db.run_sync(lambda c, rows=rows: _insert(c, rows))  # type: ignore[misc]
    finally:
        db.close()
        vault.keks.release()
    return Filled(n, time.perf_counter() - started, references, subjects)


@dataclass(frozen=True)
class _Row:
    request: tuple[object, ...]
    case: tuple[object, ...]
    message: tuple[object, ...]
    reference: str
    subject_word: str


def _one(vault: Vault, rng: random.Random, i: int, at: datetime, now: datetime) -> _Row:
    ms = int(at.timestamp() * 1000)
    request_id = str(_uuid7(ms, rng))
    case_id = str(_uuid7(ms, rng))
    msg_id = _uuid7(ms, rng).hex
    incoming = i % 2 == 1
    peer = PEERS[rng.randrange(len(PEERS))]
    created = format_time(at)
    open_ = at > now - timedelta(days=30) or rng.random() < 0.001
    deadline = (
        format_time(at + timedelta(days=rng.choice((3, 10, 30)))) if rng.random() < 0.9 else None
    )
    answered = None if open_ else format_time(at + timedelta(days=rng.randrange(1, 20)))
    status = ("received" if incoming else "delivered") if open_ else "closed"
    state = None if deadline is None else ("on_track" if open_ else "met")
    check_at = None if deadline is None else (deadline if open_ else "9999-12-31T23:59:59.999999Z")
    author = None if incoming else INVESTIGATORS[(i // 2) % len(INVESTIGATORS)]
    subject_words = rng.choices(_WORDS, k=5)
    reference = f"{peer if incoming else ME}-{at.year}-{i:07d}"
    content: JsonObject = {
        "kind": "information_request",
        "urgency": "standard",
        "language": "en",
        "subject": " ".join(subject_words),
        "body": " ".join(rng.choices(_WORDS, k=30)),
        "reference": reference,
        "handling": {"code": "H1"},
    }
    sender, recipient = (peer, ME) if incoming else (ME, peer)
    message = OutgoingMessage(
        msg_id, "request", recipient, at, content, b"", secrets.token_hex(32), now,
        content_json=canonical_json(content),
    )  # fmt: skip
    return _Row(
        (request_id, sender, msg_id, "in" if incoming else "out", peer, "information_request",
         "standard", "en", status, author, created, answered or created, deadline, created,
         answered if incoming and not open_ else None, answered, answered, state, check_at,
         case_id),
        (case_id, 1, "[]", "[]", "open" if open_ else "closed", author, created, created),
        message_row(vault, request_id, sender, recipient, message, None),
        reference,
        subject_words[0],
    )  # fmt: skip


def _uuid7(ms: int, rng: random.Random) -> uuid.UUID:
    rand = rng.getrandbits(74)
    value = (
        (ms << 80) | (0x7 << 76) | ((rand >> 62) << 64) | (0b10 << 62) | (rand & ((1 << 62) - 1))
    )
    return uuid.UUID(int=value)


_REQUESTS = """INSERT INTO requests (id, origin, msg_id, direction, counterpart, kind, urgency,
    language, status, created_by, created_at, updated_at, deadline, delivered_at,
    acknowledged_at, answered_at, closed_at, deadline_state, deadline_check_at, case_id)
    VALUES """
_CASES = """INSERT INTO cases (id, implicit, offences, route, status, created_by, created_at,
    updated_at) VALUES """


def _insert(conn: sqlite3.Connection, rows: list[_Row]) -> None:
    with transaction(conn):
        insert_rows(conn, _CASES, [r.case for r in rows])
        insert_rows(conn, _REQUESTS, [r.request for r in rows])
        insert_rows(conn, INSERT_MESSAGES, [r.message for r in rows])


def run(n: int, *, pages: int = 30, searches: int = 200, work: Path | None = None) -> JsonObject:
    """The volume figures for ``n`` requests."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        root = Path(tmp)
        (es, _) = provision(root, [ME, "MA-CNA"])
        for name in [*INVESTIGATORS, "liaison"]:
            role = "liaison" if name == "liaison" else "investigator"
            add_user(es.data, username=name, password=es.password, role=role)
        filled = fill(es.data, n)
        args = ["-m", "exchange", "node", "--data", str(es.data), "--log-format", "json"]
        started = time.perf_counter()
        process = spawn(args, root / "node.log")
        try:
            asyncio.run(wait_healthy(es.url, es.fingerprint, within=600.0))
            startup = time.perf_counter() - started
            figures = asyncio.run(_measure(es, filled, pages, searches, started, process.pid))
            figures["volume_peak_rss_mb"] = peak_rss_mb(process.pid)
        finally:
            stop(process)
    return {
        "volume_requests": n,
        "volume_fill_s": filled.seconds,
        "startup_s_at_volume": startup,
        **figures,
    }


async def _measure(
    node: BenchNode, filled: Filled, pages: int, searches: int, started: float, pid: int
) -> JsonObject:
    """Wall-clock percentiles as a client sees them, and the node's CPU time per page
    and per search (less sensitive to other load on the machine)."""
    ssl = aiohttp.Fingerprint(node.fingerprint)
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:

        async def get(path: str) -> tuple[int, JsonObject, float]:
            began = time.perf_counter()
            async with session.get(node.url + path, ssl=ssl) as r:
                body = await r.json()
            return r.status, body, (time.perf_counter() - began) * 1000

        async with session.post(
            node.url + "/api/login",
            json={"username": "liaison", "password": node.password},
            ssl=ssl,
        ) as r:
            assert r.status == 200, await r.text()
        while (await get("/api/search?q=x"))[0] == 503:  # noqa: ASYNC110 -- polling the node
            await asyncio.sleep(0.2)  # the index builds meanwhile
        index_ready = time.perf_counter() - started
        cpu = cpu_seconds(pid)
        lists = {
            "inbox": await _walk(get, "/api/inbox", "inbox", pages),
            "requests": await _walk(get, "/api/requests", "requests", pages),
            "requests_filtered": await _walk(get, "/api/requests?direction=in", "requests", pages),
            "cases": await _walk(get, "/api/cases", "cases", pages),
            "cases_filtered": await _walk(get, "/api/cases?status=open", "cases", pages),
        }
        list_cpu, cpu = cpu_seconds(pid) - cpu, cpu_seconds(pid)
        queries = [*filled.references, *filled.subjects, *(p.lower() for p in PEERS[:4])]
        rng = random.Random(3)
        times = []
        for i in range(searches):
            q = queries[i % len(queries)] if i % 2 else " ".join(rng.sample(_WORDS, 2))
            status, body, took = await get("/api/search?" + urlencode({"q": q, "limit": "50"}))
            assert status == 200, body
            times.append(took)
        search_cpu = cpu_seconds(pid) - cpu
    figures: JsonObject = {f"{name}_page_p99_ms": _p99(t) for name, t in lists.items()}
    figures["search_p99_ms"] = _p99(times)
    figures["search_p50_ms"] = statistics.median(times)
    figures["search_index_ready_s_at_volume"] = index_ready
    figures["list_page_cpu_ms"] = list_cpu * 1000 / sum(len(t) for t in lists.values())
    figures["search_cpu_ms"] = search_cpu * 1000 / searches
    return figures


Get = Callable[[str], Awaitable[tuple[int, JsonObject, float]]]


async def _walk(fetch: Get, path: str, list_name: str, pages: int) -> list[float]:
    """The first pages one after the other, then pages deep in the list, each from a
    cursor made for its position, as a client paging that far would hold."""
    times, cursor = [], None
    for _ in range(pages):
        join = "&" if "?" in path else "?"
        status, body, took = await fetch(path + (f"{join}cursor={cursor}" if cursor else ""))
        assert status == 200, body
        times.append(took)
        if (cursor := body["next"]) is None:
            break
    now = datetime.now(UTC)
    for back in range(1, pages + 1):  # deep: from 5 years ago up to now
        at = format_time(now - timedelta(days=365 * YEARS * back / (pages + 1)))
        position: list[str | None] = [at, str(uuid.UUID(int=0))]
        if list_name == "inbox":
            position = [at, at, str(uuid.UUID(int=0))]
        token = cursors.encode(list_name, position)
        join = "&" if "?" in path else "?"
        status, body, took = await fetch(f"{path}{join}cursor={token}")
        assert status == 200, body
        times.append(took)
    return times


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] if ordered else 0.0
