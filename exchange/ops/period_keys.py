"""Key-encryption keys (KEKs) in ``keys/periods/``: one file per KEK, ``<id>.kek``.

Each file holds one KEK sealed by the storage key (associated data: its id), written
0600 and atomically, the file and its folder synced before the KEK wraps anything: a
key whose wrapped form is committed to the database must already survive a power cut.
Destroying a KEK overwrites its file with random bytes, syncs, unlinks it and syncs
the folder. Crypto-erasure depends on this being the only copy of a KEK: the database,
its backups and the logs never hold one (core/vault.py).

One process writes the folder at a time (the node, or ``exchange retention run``): it
holds an exclusive lock on ``periods/.lock`` while it may create, rotate or destroy a
KEK. Readers (``exchange evidence export``) take no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import BinaryIO

import nacl.exceptions
import nacl.secret
import nacl.utils

from ..config import NodeConfig
from ..core.clock import Clock
from ..core.errors import ExchangeError, Malformed, StorageUnavailable
from ..core.vault import (
    PeriodKeys,
    Vault,
    is_protected,
    new_storage_key,
    period_of,
    protect_storage_key,
    split_kek_id,
)
from ..store import period_keys as store
from ..store.db import Database, transaction
from .keyfiles import TEMPORARY, load_storage_key, write_private

FOLDER = "periods"
SUFFIX = ".kek"


class KeysInUse(ExchangeError):
    """Another process (the running node, or a retention pass) holds the period keys:
    two writers could destroy a KEK the other one is still wrapping under."""

    code = "keys_in_use"


class PeriodKeyFiles(PeriodKeys):
    """KEK files sealed by the storage key; while the storage key is being replaced
    (``storage.key.next`` exists), by either key, and new ones by the next."""

    def __init__(self, keys_dir: Path, storage_key: bytes, next_key: bytes | None = None) -> None:
        self.keys_dir = keys_dir
        self.folder = keys_dir / FOLDER
        self._seals = [nacl.secret.Aead(k) for k in (next_key, storage_key) if k is not None]
        self._next = next_key
        self._lock_fd: int | None = None
        super().__init__(_ids_in(self.folder))

    def replacing(self) -> bool:
        """Whether a replacement of the storage key is under way."""
        return self._next is not None

    def begin_replacement(self, passphrase: bytes | None) -> None:
        """Write ``storage.key.next``: a new storage key, protected as the current one
        is (same passphrase, same Argon2id limits); new KEK files are sealed by it."""
        self._writer()
        key = new_storage_key()
        current = (self.keys_dir / "storage.key").read_bytes()
        data = key
        if is_protected(current):
            if passphrase is None:
                raise ValueError("replacing a protected storage key needs its passphrase")
            doc = json.loads(current)
            data = protect_storage_key(
                key, passphrase, opslimit=int(doc["opslimit"]), memlimit=int(doc["memlimit"])
            )
        write_private(self.keys_dir / NEXT_STORAGE_KEY, data, new=True)
        _sync_folder(self.keys_dir)
        with self._lock:
            self._seals.insert(0, nacl.secret.Aead(key))
            self._next = key

    def finish_replacement(self) -> bytes:
        """Every KEK file sealed by the next storage key, then it becomes storage.key."""
        self._writer()
        with self._lock:
            box = self._seals[0]
            for kid in self.ids():
                key = self.get(kid)
                if key is not None:
                    sealed = bytes(box.encrypt(key, _aad(kid)))
                    write_private(self.folder / (kid + SUFFIX), sealed)
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            _sync_folder(self.folder)
            with open(self.keys_dir / "storage.key", "r+b") as old:
                os.replace(self.keys_dir / NEXT_STORAGE_KEY, self.keys_dir / "storage.key")
                _sync_folder(self.keys_dir)
                _overwrite(old)  # the old key's bytes, unlinked now, are not left on disk
            self._seals = [box]
            replaced, self._next = self._next, None
        assert replaced is not None
        return replaced

    def hold(self) -> None:
        """Take the writer's lock (``KeysInUse`` if another process has it)."""
        if self._lock_fd is not None:
            return
        self._lock_fd = take_writer_lock(self.keys_dir)
        self._destroy_leftovers()
        with self._lock:
            self._ids = set(_ids_in(self.folder))  # as they are now that nobody else writes

    def _destroy_leftovers(self) -> None:
        """Temporary files a writer killed mid-write left behind (write_private): one may
        hold a KEK sealed by the storage key, which would outlive the KEK's destruction.
        Only the lock holder writes here, so none of them is a write in progress. One
        still linked to a KEK file (killed between link and unlink) is only unlinked:
        its bytes are that KEK's, overwritten when it is destroyed."""
        leftovers = list(self.folder.glob(TEMPORARY + "*"))
        for path in leftovers:
            with contextlib.suppress(FileNotFoundError), open(path, "r+b") as handle:
                if os.fstat(handle.fileno()).st_nlink == 1:
                    _overwrite(handle)
            path.unlink(missing_ok=True)
        if leftovers:
            _sync_folder(self.folder)

    def try_hold(self) -> bool:
        with contextlib.suppress(KeysInUse):
            self.hold()
        return self._lock_fd is not None

    def active(self, period: str) -> tuple[str, bytes]:
        """As ``PeriodKeys.active``; in a process that does not write the keys (another
        process of the authority on this data folder does, ``[cluster] active_active``)
        the newest KEK of the period on disk, never a new one: the writer makes each
        period's ahead of time (``prepare``)."""
        if self._lock_fd is not None:
            return super().active(period)
        with self._lock:
            self._ids = set(_ids_in(self.folder))  # the writer's, as they are now
            live = [k for k in self._ids if k.startswith(period + ".") and k not in self._retired]
            key = self.get(max(live)) if live else None
            if key is None:
                raise StorageUnavailable("this period's key is not made yet: try again shortly")
            return max(live), key

    def get(self, kid: str) -> bytes | None:
        if self._lock_fd is None:  # another process writes the keys
            with self._lock:
                if kid not in self._ids:  # made since by the writer
                    self._ids |= set(_ids_in(self.folder))
                elif not (self.folder / (kid + SUFFIX)).exists():
                    # destroyed by the writer (an erasure): not kept in this memory either
                    self._ids.discard(kid)
                    self._cache.pop(kid, None)
        return super().get(kid)

    def young(self, kids: set[str], *, now: datetime, grace: timedelta) -> set[str]:
        """Those of ``kids`` a process that reads the keys may have picked within
        ``grace`` (``active``: the newest generation of the current period, listed from
        the folder) and may still be committing a key wrapped under: its period was
        current then, and no newer generation of it was made before then."""
        since = now - grace
        young = set()
        for kid in kids:
            period, generation = split_kek_id(kid)
            if period < period_of(since):
                continue
            newer = [k for k in self._ids if split_kek_id(k)[0] == period
                     and split_kek_id(k)[1] > generation]  # fmt: skip
            made = [self._made_at(k) for k in newer]
            if not any(at is not None and at <= since for at in made):
                young.add(kid)
        return young

    def _made_at(self, kid: str) -> datetime | None:
        try:
            stamp = (self.folder / (kid + SUFFIX)).stat().st_mtime
        except FileNotFoundError:
            return None
        return datetime.fromtimestamp(stamp, UTC)

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the lock
            self._lock_fd = None

    def _store(self, kid: str, key: bytes) -> None:
        self._writer()
        sealed = bytes(self._seals[0].encrypt(key, _aad(kid)))
        write_private(self.folder / (kid + SUFFIX), sealed, new=True)
        _sync_folder(self.folder)

    def _load(self, kid: str) -> bytes | None:
        try:
            sealed = (self.folder / (kid + SUFFIX)).read_bytes()
        except FileNotFoundError:
            return None
        for box in self._seals:
            with contextlib.suppress(nacl.exceptions.CryptoError):
                return bytes(box.decrypt(sealed, _aad(kid)))
        return None  # overwritten by a destruction that a crash interrupted

    def _erase(self, kid: str) -> None:
        self._writer()
        path = self.folder / (kid + SUFFIX)
        with contextlib.suppress(FileNotFoundError), open(path, "r+b") as handle:
            _overwrite(handle)
        path.unlink(missing_ok=True)
        _sync_folder(self.folder)

    def _writer(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError("period keys are written only under the writer's lock (hold())")


def take_writer_lock(keys_dir: Path) -> int:
    """The exclusive lock on ``periods/.lock`` (its descriptor: closing it releases it).
    A node holds it as long as it runs, so it also tells whether one does (``exchange
    storage migrate`` takes it to refuse a running node and keep one from starting)."""
    folder = keys_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise KeysInUse(
            "another process holds this node's period keys (the node itself, or a"
            " retention pass): stop it first, or let the node's daily pass do the work"
        ) from None
    return fd


def open_vault(config: NodeConfig, clock: Clock, passphrase: bytes | None = None) -> Vault:
    """The node's vault over its KEK files (read-only until ``vault.keks.hold()``)."""
    storage_key = load_storage_key(config.keys_dir, passphrase)
    nxt = config.keys_dir / NEXT_STORAGE_KEY
    next_key = (
        load_storage_key(config.keys_dir, passphrase, name=NEXT_STORAGE_KEY)
        if nxt.exists()
        else None
    )
    files = PeriodKeyFiles(config.keys_dir, storage_key, next_key)
    return Vault(storage_key, files, clock)


NEXT_STORAGE_KEY = "storage.key.next"
# a process that reads the keys commits what it wrapped well within this (one database
# job); a KEK it may have picked is destroyed only once this has passed
READER_GRACE = timedelta(minutes=10)


def adopt(db: Database, vault: Vault, clock: Clock, passphrase: bytes | None = None) -> int:
    """Re-wrap under KEKs the keys still wrapped by the storage key, and seal the
    filenames still in clear (a database from before migration 16); how many.

    Then the storage key itself is replaced: every copy of the database from before
    (a backup) holds keys wrapped by the old one, which must read nothing once those
    records are erased. ``storage.key.next`` is written before the keys are re-wrapped
    and replaces ``storage.key`` only after every KEK file is sealed by it, so a crash
    at any point leaves both keys needed on disk (the next start finishes the work)."""
    now = clock.now()
    files = vault.keks if isinstance(vault.keks, PeriodKeyFiles) else None
    readable = db.run_sync(lambda c: store.legacy_readable(c, vault))
    if readable and files is not None and not files.replacing():
        files.begin_replacement(passphrase)
    adopted = db.run_sync(lambda c: _in_transaction(c, lambda: store.adopt_legacy(c, vault, now)))
    if files is not None and files.replacing():
        vault.replace_storage_key(files.finish_replacement())
    return adopted


def settle(db: Database, vault: Vault, clock: Clock, grace: timedelta | None = None) -> list[str]:
    """Destroy every KEK that no stored key names and none ever will (retired by a
    rotation, an older generation, a finished period's); the ids destroyed.

    The candidates are retired first, on the database thread, so no key is wrapped
    under them from then on; the database is read after that, and its answer is
    durable before any file goes (a crash anywhere leaves every stored key's KEK).
    With ``grace`` (several processes on the data folder, ``READER_GRACE``), a KEK
    another process may have picked within it is kept for a later settling: that
    process's key wrapped under it may not be committed yet."""
    now = clock.now()

    def unused(conn: sqlite3.Connection) -> set[str]:
        idle = vault.keks.idle(now=now)
        vault.keks.retire(idle)
        young = vault.keks.young(idle, now=now, grace=grace) if grace else set()
        return idle - young - store.in_use(conn)

    return vault.keks.destroy(db.run_sync(unused))


def _in_transaction(conn: sqlite3.Connection, fn: Callable[[], int]) -> int:
    with transaction(conn):
        return fn()


def _aad(kid: str) -> bytes:
    return b"exchange-kek:" + kid.encode()


def _ids_in(folder: Path) -> list[str]:
    ids = []
    for path in folder.glob("*" + SUFFIX) if folder.is_dir() else ():
        with contextlib.suppress(Malformed):
            split_kek_id(path.name[: -len(SUFFIX)])
            ids.append(path.name[: -len(SUFFIX)])
    return ids


def _overwrite(handle: BinaryIO) -> None:
    """Random bytes over the whole file, synced."""
    size = os.fstat(handle.fileno()).st_size
    handle.seek(0)
    handle.write(nacl.utils.random(max(size, 1)))
    handle.flush()
    os.fsync(handle.fileno())


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
