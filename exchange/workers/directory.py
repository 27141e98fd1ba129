"""Fetching the directory: at start and then every ``directory_refresh``, from an
https:// URL or a file; the holder (``exchange.service.directory``) verifies it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiohttp
import structlog

from ..core.bodies import read_limited
from ..core.errors import DirectoryRejected
from ..service.directory import DirectoryHolder

log = structlog.get_logger("exchange.directory")
MAX_DIRECTORY_BYTES = 64 * 1024 * 1024


async def refresh(
    holder: DirectoryHolder, source: str, data_dir: Path, session: aiohttp.ClientSession
) -> bool:
    """Fetch and install the directory; True if it replaced what we held."""
    document = await fetch_document(source, data_dir, session)
    try:
        return await holder.update(document)
    except DirectoryRejected:
        return False


async def refresh_forever(
    holder: DirectoryHolder,
    source: str,
    data_dir: Path,
    session: aiohttp.ClientSession,
    interval: float,
) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await refresh(holder, source, data_dir, session)
        except Exception as exc:  # keep the last good directory; try again next time
            log.warning("directory_refresh_failed", error=type(exc).__name__)


async def fetch_document(source: str, data_dir: Path, session: aiohttp.ClientSession) -> bytes:
    """Read the directory from an https:// URL or a file (relative to the data folder)."""
    if source.startswith("https://"):
        timeout = aiohttp.ClientTimeout(total=30)
        async with session.get(source, timeout=timeout) as response:
            response.raise_for_status()
            data = await read_limited(response.content, MAX_DIRECTORY_BYTES, "directory")
    else:
        path = Path(source) if Path(source).is_absolute() else data_dir / source
        with path.open("rb") as handle:
            data = handle.read(MAX_DIRECTORY_BYTES + 1)
    if len(data) > MAX_DIRECTORY_BYTES:
        raise DirectoryRejected("directory document is too large")
    return data
