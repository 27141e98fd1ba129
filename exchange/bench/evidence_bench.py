"""Evidence at phone-extraction scale (issue 17): one file of ``size`` bytes through two
node processes with TLS. Uploaded to A through the resumable API (tus, one streamed
``PATCH``), delivered to B in parts, downloaded at B and checked against its hash;
then a second file whose receiver B is killed with SIGKILL halfway through and
restarted: the transfer must end without sending again what B had verified."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiohttp

from ..core.canonical import JsonObject
from ..ops.provision import add_user
from ..runloop import run as run_loop
from ..workers.peer_client import pinned
from .local_federation import BenchNode, provision
from .processes import cpu_seconds, peak_rss_mb, stop, wait_healthy

MB = 1_000_000
BLOCK = 1 << 20  # the file is one random MiB again and again (encryption hides it)


def _config(size: int, part_bytes: int) -> str:
    return f"""
[limits]
max_attachment_bytes = {max(size, 1 << 20)}

[evidence]
part_bytes = {part_bytes}

[delivery]
backoff_initial_seconds = 0.05
backoff_max_seconds = 0.5
"""


def run(
    size: int, *, part_bytes: int = 8 << 20, work: Path | None = None, resume_size: int = 0
) -> JsonObject:
    """``resume_size``: the second file's size (0: a quarter of ``size``, at least 2 MiB
    or ``size``)."""
    resume_size = resume_size or min(size, max(size // 4, 2 << 20))
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        root = Path(tmp)
        a, b = provision(root, ["ES-CNA", "MA-CNA"], extra_config=_config(size, part_bytes))
        add_user(b.data, username="liaison", password=b.password, role="liaison")
        procs = {"ES-CNA": _start(a, root), "MA-CNA": _start(b, root)}
        rss = {"ES-CNA": 0.0, "MA-CNA": 0.0}
        try:
            result = run_loop(_run(a, b, root, procs, rss, size, resume_size, part_bytes))
            for name, proc in procs.items():
                rss[name] = max(rss[name], peak_rss_mb(proc.pid))
        finally:
            for proc in procs.values():
                stop(proc)
    result["evidence_peak_rss_mb"] = max(rss.values())
    result["evidence_peak_rss_mb_by_node"] = dict(rss)
    return result


async def _run(
    a: BenchNode, b: BenchNode, root: Path, procs: dict[str, subprocess.Popen[bytes]],
    rss: dict[str, float], size: int, resume_size: int, part_bytes: int,
) -> JsonObject:  # fmt: skip
    await asyncio.gather(*(wait_healthy(n.url, n.fingerprint) for n in (a, b)))
    block = os.urandom(BLOCK)
    jar = aiohttp.CookieJar(unsafe=True)
    async with (
        aiohttp.ClientSession(cookie_jar=jar) as sender,
        aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as receiver,
    ):
        csrf = await _login(sender, a, "investigator")
        started = time.perf_counter()
        attachment, digest = await _upload(sender, a, csrf, block, size)
        upload_s = time.perf_counter() - started
        started = time.perf_counter()
        cpu = {name: cpu_seconds(p.pid) for name, p in procs.items()}
        await _send(sender, a, csrf, attachment)
        await _wait(lambda: _uploaded(a.data / "exchange.db", attachment), 600 + size / (5 * MB))
        deliver_s = time.perf_counter() - started
        cpu = {name: cpu_seconds(p.pid) - cpu[name] for name, p in procs.items()}
        liaison = await _login(receiver, b, "liaison")
        started = time.perf_counter()
        got = await _download(receiver, b, liaison)
        download_s = time.perf_counter() - started
        # the receiver killed halfway through a second file, then restarted
        second, _ = await _upload(sender, a, csrf, block, resume_size)
        log_mark = (root / "ES-CNA.log").stat().st_size
        await _send(sender, a, csrf, second)
        half = resume_size // 2
        await _wait(lambda: _verified(b.data / "exchange.db") >= half, 600, pace=0.005)
        rss["MA-CNA"] = peak_rss_mb(procs["MA-CNA"].pid)
        procs["MA-CNA"].send_signal(signal.SIGKILL)
        procs["MA-CNA"].wait()
        at_kill = _verified(b.data / "exchange.db")
        procs["MA-CNA"] = _start(b, root)
        await wait_healthy(b.url, b.fingerprint)
        await _wait(lambda: _uploaded(a.data / "exchange.db", second), 600 + size / (5 * MB))
    sent = _parts_sent(root / "ES-CNA.log", log_mark)
    blob = sent[0]["size"] if sent else 0
    resent = sum(int(s["bytes_sent"]) for s in sent) - blob
    resumed_from = [int(s["resumed_from"]) for s in sent[1:]]
    return {
        "evidence_bytes": size,
        "evidence_part_bytes": part_bytes,
        "evidence_upload_mb_s": size / MB / upload_s,
        "evidence_deliver_mb_s": size / MB / deliver_s,
        "evidence_download_mb_s": size / MB / download_s,
        # CPU seconds each node spent per second of delivery: 1.0 is one core busy
        "evidence_deliver_cpu_share_sender": cpu["ES-CNA"] / deliver_s,
        "evidence_deliver_cpu_share_receiver": cpu["MA-CNA"] / deliver_s,
        "evidence_download_ok": got == digest,
        "evidence_resume_bytes": resume_size,
        "evidence_resume_killed_at": at_kill,
        "evidence_resent_bytes": resent,
        "evidence_resume_ok": bool(
            0 < at_kill < blob and at_kill in resumed_from and 0 <= resent <= part_bytes
        ),
    }


def _start(node: BenchNode, root: Path) -> subprocess.Popen[bytes]:
    """The node's process, its log appended to (a restart keeps the first run's lines)."""
    args = ["-m", "exchange", "node", "--data", str(node.data), "--log-format", "json"]
    with (root / f"{node.authority_id}.log").open("ab") as log:
        return subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
            [sys.executable, *args], stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip


async def _login(session: aiohttp.ClientSession, node: BenchNode, username: str) -> str:
    async with session.post(
        node.url + "/api/login",
        json={"username": username, "password": node.password},
        ssl=pinned(node.fingerprint.hex()),
    ) as r:
        body = await r.json()
        assert r.status == 200, body
        return str(body["csrf_token"])


async def _upload(
    session: aiohttp.ClientSession, node: BenchNode, csrf: str, block: bytes, size: int
) -> tuple[str, str]:
    """The file through the resumable API in one streamed PATCH; (attachment id, sha256)."""
    tus = {"X-CSRF-Token": csrf, "Tus-Resumable": "1.0.0"}
    ssl = pinned(node.fingerprint.hex())
    async with session.post(
        node.url + "/api/uploads", headers={**tus, "Upload-Length": str(size)}, ssl=ssl
    ) as r:
        assert r.status == 201, await r.text()
        where = r.headers["Location"]
    digest = hashlib.sha256()

    async def body() -> AsyncIterator[bytes]:
        left = size
        while left:
            piece = block[: min(left, len(block))]
            digest.update(piece)
            left -= len(piece)
            yield piece

    headers = {**tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream",
               "Content-Length": str(size)}  # fmt: skip
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    async with session.patch(
        node.url + where, data=body(), headers=headers, ssl=ssl, timeout=timeout
    ) as r:
        stored = await r.json()
        assert r.status == 200, stored
    return str(stored["id"]), digest.hexdigest()


async def _send(
    session: aiohttp.ClientSession, node: BenchNode, csrf: str, attachment: str
) -> None:
    request = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
               "subject": "Phone extraction", "body": "Attached.", "language": "en",
               "attachments": [attachment]}  # fmt: skip
    async with session.post(
        node.url + "/api/requests", json=request, headers={"X-CSRF-Token": csrf},
        ssl=pinned(node.fingerprint.hex()),
    ) as r:  # fmt: skip
        assert r.status == 201, await r.text()


async def _download(session: aiohttp.ClientSession, node: BenchNode, csrf: str) -> str:
    """The first file of the first request in the liaison's inbox, streamed and hashed."""
    ssl = pinned(node.fingerprint.hex())
    async with session.get(node.url + "/api/inbox", ssl=ssl) as r:
        request_id = (await r.json())["requests"][0]["id"]
    async with session.get(node.url + f"/api/requests/{request_id}", ssl=ssl) as r:
        attachment = (await r.json())["messages"][0]["attachments"][0]["id"]
    digest = hashlib.sha256()
    timeout = aiohttp.ClientTimeout(total=None, sock_read=600)
    path = f"/api/requests/{request_id}/attachments/{attachment}"
    async with session.get(node.url + path, ssl=ssl, timeout=timeout) as r:
        assert r.status == 200, await r.text()
        async for piece in r.content.iter_chunked(BLOCK):
            digest.update(piece)
    return digest.hexdigest()


async def _wait(predicate: Callable[[], bool], within: float, pace: float = 0.05) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not await asyncio.to_thread(predicate):
        if loop.time() > deadline:
            raise TimeoutError("the evidence transfer did not end in time")
        await asyncio.sleep(pace)


def _read(db: Path, sql: str, args: tuple[object, ...] = ()) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    try:
        row = conn.execute(sql, args).fetchone()
        return int(row[0] or 0) if row else 0
    except sqlite3.OperationalError:  # busy or not migrated yet: not there yet
        return 0
    finally:
        conn.close()


def _uploaded(db: Path, attachment: str) -> bool:
    return _read(db, "SELECT uploaded FROM attachments WHERE id = ?", (attachment,)) == 1


def _verified(db: Path) -> int:
    return _read(db, "SELECT MAX(verified) FROM blob_parts")


def _parts_sent(log: Path, offset: int) -> list[JsonObject]:
    """The sender's ``blob_parts_sent`` events logged after ``offset``."""
    found = []
    with log.open("rb") as handle:
        handle.seek(offset)
        for line in handle:
            if b"blob_parts_sent" in line:
                try:
                    found.append(json.loads(line))
                except ValueError:
                    continue
    return found
