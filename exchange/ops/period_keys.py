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
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path

import nacl.exceptions
import nacl.secret
import nacl.utils

from ..config import NodeConfig
from ..core.clock import Clock
from ..core.errors import ExchangeError, Malformed
from ..core.vault import PeriodKeys, Vault, split_kek_id
from ..store import period_keys as store
from ..store.db import Database, transaction
from .keyfiles import load_storage_key, write_private

FOLDER = "periods"
SUFFIX = ".kek"


class KeysInUse(ExchangeError):
    """Another process (the running node, or a retention pass) holds the period keys:
    two writers could destroy a KEK the other one is still wrapping under."""

    code = "keys_in_use"


class PeriodKeyFiles(PeriodKeys):
    def __init__(self, keys_dir: Path, storage_key: bytes) -> None:
        self.folder = keys_dir / FOLDER
        self._seal = nacl.secret.Aead(storage_key)
        self._lock_fd: int | None = None
        super().__init__(_ids_in(self.folder))

    def hold(self) -> None:
        """Take the writer's lock (``KeysInUse`` if another process has it)."""
        if self._lock_fd is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise KeysInUse(
                "another process holds this node's period keys (the node itself, or a"
                " retention pass): stop it first, or let the node's daily pass do the work"
            ) from None
        self._lock_fd = fd
        with self._lock:
            self._ids = set(_ids_in(self.folder))  # as they are now that nobody else writes

    def release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the descriptor drops the lock
            self._lock_fd = None

    def _store(self, kid: str, key: bytes) -> None:
        self._writer()
        sealed = bytes(self._seal.encrypt(key, _aad(kid)))
        write_private(self.folder / (kid + SUFFIX), sealed, new=True)
        _sync_folder(self.folder)

    def _load(self, kid: str) -> bytes | None:
        try:
            sealed = (self.folder / (kid + SUFFIX)).read_bytes()
            return bytes(self._seal.decrypt(sealed, _aad(kid)))
        except FileNotFoundError:
            return None
        except nacl.exceptions.CryptoError:
            return None  # overwritten by a destruction that a crash interrupted

    def _erase(self, kid: str) -> None:
        self._writer()
        path = self.folder / (kid + SUFFIX)
        with contextlib.suppress(FileNotFoundError), open(path, "r+b") as handle:
            size = os.fstat(handle.fileno()).st_size
            handle.write(nacl.utils.random(max(size, 1)))
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink(missing_ok=True)
        _sync_folder(self.folder)

    def _writer(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError("period keys are written only under the writer's lock (hold())")


def open_vault(config: NodeConfig, clock: Clock, passphrase: bytes | None = None) -> Vault:
    """The node's vault over its KEK files (read-only until ``vault.keks.hold()``)."""
    storage_key = load_storage_key(config.keys_dir, passphrase)
    return Vault(storage_key, PeriodKeyFiles(config.keys_dir, storage_key), clock)


def adopt(db: Database, vault: Vault, clock: Clock) -> int:
    """Re-wrap under KEKs the keys still wrapped by the storage key, and seal the
    filenames still in clear (a database from before migration 13); how many."""
    now = clock.now()
    return db.run_sync(lambda c: _in_transaction(c, lambda: store.adopt_legacy(c, vault, now)))


def settle(db: Database, vault: Vault, clock: Clock) -> list[str]:
    """Destroy every KEK that no stored key names and none ever will (retired by a
    rotation, an older generation, a finished period's); the ids destroyed.

    The candidates are retired first, on the database thread, so no key is wrapped
    under them from then on; the database is read after that, and its answer is
    durable before any file goes (a crash anywhere leaves every stored key's KEK)."""
    now = clock.now()

    def unused(conn: sqlite3.Connection) -> set[str]:
        idle = vault.keks.idle(now=now)
        vault.keks.retire(idle)
        return idle - store.in_use(conn)

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


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
