"""Evidence files (attachments): chunked authenticated encryption and the manifest.

A file is encrypted once, at upload, with its own random key, by libsodium's
``crypto_secretstream_xchacha20poly1305`` in 64 KiB chunks: every chunk is
authenticated, chunks cannot be reordered, dropped or replayed, and the last
one carries the FINAL tag, so a truncated file is detected. The blob is
``header || (len || chunk)*`` with a 4-byte big-endian length per chunk; it is
never held in memory whole, neither plain nor encrypted.

The key travels only inside the sealed, signed envelope (the manifest entry),
so only the recipient can read the file, and the sender's signature covers
the plaintext and blob hashes: a swapped blob is detected.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import nacl.bindings as sodium
import nacl.exceptions

from .canonical import JsonObject, b64d, b64e
from .errors import DecryptionFailed, Malformed

CHUNK = 64 * 1024
KEY_BYTES = sodium.crypto_secretstream_xchacha20poly1305_KEYBYTES
HEADER_BYTES = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES
ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES
_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL
_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE
_LEN = struct.Struct(">I")
MAX_ATTACHMENTS = 20
# the most one part of a resumable blob upload may carry (PATCH /v1/blobs/{sha256})
MAX_PART_BYTES = 64 * 1024 * 1024
_FILENAME_BAD = re.compile(r"[\x00-\x1f\x7f/\\]")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def partial_blob_name(peer: str, blob_sha256: str) -> str:
    """The file of a peer's resumable upload of a blob in progress (under ``blobs/``)."""
    return f".part-{hashlib.sha256(peer.encode()).hexdigest()[:32]}-{blob_sha256}"


def resumable_upload_name(upload_id: str) -> str:
    """The file of a resumable upload from the local API in progress (under ``blobs/``)."""
    return f".resumable-{upload_id}"


def new_key() -> bytes:
    return bytes(sodium.crypto_secretstream_xchacha20poly1305_keygen())


class BlobWriter:
    """Encrypts a stream of plaintext pieces into blob bytes, hashing both sides."""

    def __init__(self, key: bytes) -> None:
        self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
        header = sodium.crypto_secretstream_xchacha20poly1305_init_push(self._state, key)
        self.plain_sha256 = hashlib.sha256()
        self.blob_sha256 = hashlib.sha256(header)
        self.size = 0
        self.blob_size = len(header)
        self._pending = b""
        self._out: list[bytes] = [header]

    @classmethod
    def resumed(cls, key: bytes, blob: Iterator[bytes]) -> BlobWriter:
        """A writer that goes on after the whole chunks of a blob written before (a
        resumable upload after a restart). Pulling those chunks with the key leaves the
        stream in the state pushing them did (secretstream advances one state alike on
        both sides), and their hashes are computed again; raises ``DecryptionFailed``
        if the bytes are not such a prefix."""
        reader = BlobReader(key)
        plain, whole, size, blob_size = hashlib.sha256(), hashlib.sha256(), 0, 0
        for piece in blob:
            whole.update(piece)
            blob_size += len(piece)
            data = reader.feed(piece)
            plain.update(data)
            size += len(data)
        if reader.finished or reader._buffer or reader._state is None:
            raise DecryptionFailed("not the start of an unfinished blob")
        writer = cls.__new__(cls)
        writer._state = reader._state
        writer.plain_sha256, writer.blob_sha256 = plain, whole
        writer.size, writer.blob_size = size, blob_size
        writer._pending, writer._out = b"", []
        return writer

    @property
    def whole_chunks(self) -> int:
        """Plaintext bytes already sealed into whole chunks (the rest waits in memory)."""
        return self.size - len(self._pending)

    def write(self, data: bytes) -> bytes:
        """Feed plaintext; returns the blob bytes ready so far (whole chunks)."""
        self.plain_sha256.update(data)
        self.size += len(data)
        pending = self._pending + data if self._pending else bytes(data)
        start = 0  # an index, not re-slicing: each byte is copied once into its chunk
        while len(pending) - start > CHUNK:  # keep one chunk back: it may be the last
            self._frame(pending[start : start + CHUNK], _MESSAGE)
            start += CHUNK
        self._pending = pending[start:]
        return self._flush()

    def finish(self) -> bytes:
        """The last chunk, tagged FINAL (an empty file is one empty FINAL chunk)."""
        self._frame(self._pending, _FINAL)
        self._pending = b""
        return self._flush()

    def _frame(self, chunk: bytes, tag: int) -> None:
        sealed = sodium.crypto_secretstream_xchacha20poly1305_push(self._state, chunk, None, tag)
        length = _LEN.pack(len(sealed))
        self.blob_sha256.update(length)
        self.blob_sha256.update(sealed)
        self.blob_size += len(length) + len(sealed)
        self._out += (length, sealed)

    def _flush(self) -> bytes:
        out, self._out = b"".join(self._out), []
        return out


class BlobReader:
    """Decrypts blob bytes fed in any pieces; raises on any change or truncation."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._state: Any = None
        self._buffer = b""
        self.finished = False

    def feed(self, data: bytes) -> bytes:
        buffer = self._buffer + data if self._buffer else bytes(data)
        out: list[bytes] = []
        start = 0  # an index into ``buffer``, not re-slicing: each byte is copied once
        if self._state is None:
            if len(buffer) < HEADER_BYTES:
                self._buffer = buffer
                return b""
            self._state = sodium.crypto_secretstream_xchacha20poly1305_state()
            header, start = buffer[:HEADER_BYTES], HEADER_BYTES
            sodium.crypto_secretstream_xchacha20poly1305_init_pull(self._state, header, self._key)
        while len(buffer) - start >= _LEN.size:
            (length,) = _LEN.unpack_from(buffer, start)
            if length > CHUNK + ABYTES:
                raise DecryptionFailed("attachment chunk is too long")
            if len(buffer) - start < _LEN.size + length:
                break
            sealed = buffer[start + _LEN.size : start + _LEN.size + length]
            start += _LEN.size + length
            if self.finished:
                raise DecryptionFailed("attachment has data after its final chunk")
            try:
                plain, tag = sodium.crypto_secretstream_xchacha20poly1305_pull(
                    self._state, sealed, None
                )
            except nacl.exceptions.CryptoError as exc:
                raise DecryptionFailed("attachment chunk fails authentication") from exc
            self.finished = tag == _FINAL
            out.append(bytes(plain))
        self._buffer = buffer[start:]
        return b"".join(out)

    def close(self) -> None:
        if not self.finished or self._buffer:
            raise DecryptionFailed("attachment is truncated")


def decrypt_blob(key: bytes, pieces: Iterator[bytes]) -> Iterator[bytes]:
    reader = BlobReader(key)
    for piece in pieces:
        plain = reader.feed(piece)
        if plain:
            yield plain
    reader.close()


@dataclass(frozen=True)
class ManifestEntry:
    """One attachment as the sealed content describes it (the key never leaves it)."""

    id: str
    filename: str
    media_type: str
    size: int
    sha256: str  # of the plaintext
    blob_sha256: str
    blob_size: int
    key: bytes

    def to_json(self) -> JsonObject:
        return {
            "id": self.id,
            "filename": self.filename,
            "media_type": self.media_type,
            "size": self.size,
            "sha256": self.sha256,
            "blob_sha256": self.blob_sha256,
            "blob_size": self.blob_size,
            "key": b64e(self.key),
        }

    def public(self) -> JsonObject:
        """What users see: never the key."""
        return {k: v for k, v in self.to_json().items() if k not in ("key", "blob_size")}

    @classmethod
    def from_json(cls, data: object, *, max_size: int) -> ManifestEntry:
        fields = {"id", "filename", "media_type", "size", "sha256", "blob_sha256", "blob_size",
                  "key"}  # fmt: skip
        if not isinstance(data, dict) or set(data) != fields:
            raise Malformed(
                "an attachment must have exactly the fields " + ", ".join(sorted(fields))
            )
        for name in ("id", "filename", "media_type", "sha256", "blob_sha256"):
            if not isinstance(data[name], str) or not 0 < len(data[name]) <= 255:
                raise Malformed(f"attachment {name} must be text of 1 to 255 characters")
        if _FILENAME_BAD.search(data["filename"]):
            raise Malformed("attachment filename must not hold path separators or controls")
        if not _HEX64.match(data["sha256"]) or not _HEX64.match(data["blob_sha256"]):
            raise Malformed("attachment hashes must be lowercase hex SHA-256")
        for name in ("size", "blob_size"):
            value = data[name]
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise Malformed(f"attachment {name} must be a non-negative integer")
        if data["size"] > max_size:
            raise Malformed(f"attachment is larger than {max_size} bytes")
        return cls(
            id=data["id"],
            filename=data["filename"],
            media_type=data["media_type"],
            size=data["size"],
            sha256=data["sha256"],
            blob_sha256=data["blob_sha256"],
            blob_size=data["blob_size"],
            key=b64d(data["key"], field="attachment key", length=KEY_BYTES),
        )


def parse_manifest(value: object, *, max_size: int) -> list[ManifestEntry]:
    if not isinstance(value, list) or not 0 < len(value) <= MAX_ATTACHMENTS:
        raise Malformed(f"attachments must be a list of 1 to {MAX_ATTACHMENTS} entries")
    entries = [ManifestEntry.from_json(item, max_size=max_size) for item in value]
    if len({e.id for e in entries}) != len(entries):
        raise Malformed("attachment ids must be unique within a message")
    return entries


def safe_filename(name: str) -> str:
    """A filename fit for a Content-Disposition header and any file system."""
    cleaned = _FILENAME_BAD.sub("_", name).strip().strip(".") or "attachment"
    return re.sub(r'["\';]', "_", cleaned)[:200]
