"""Node processes for benchmarks: start, wait until healthy, CPU time and peak RSS."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import aiohttp

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def peak_rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM:")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS:")


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def spawn(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    handle = log.open("wb")
    return subprocess.Popen(  # noqa: S603 -- our own interpreter and arguments
        [sys.executable, *args], stdout=handle, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
    )


async def wait_healthy(url: str, fingerprint: bytes, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    async with aiohttp.ClientSession() as session:
        while True:
            try:
                async with session.get(
                    url + "/v1/health", ssl=aiohttp.Fingerprint(fingerprint)
                ) as response:
                    if response.status == 200 and (await response.json())["status"] == "ok":
                        return
            except (aiohttp.ClientError, OSError):
                pass
            if loop.time() > deadline:
                raise TimeoutError(f"{url} did not become healthy")
            await asyncio.sleep(0.05)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
