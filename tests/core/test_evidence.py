"""Chunked attachment encryption: round trips, and every tampering is caught."""

from __future__ import annotations

import hashlib
import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core.errors import DecryptionFailed, Malformed
from exchange.core.evidence import (
    CHUNK,
    HEADER_BYTES,
    BlobWriter,
    ManifestEntry,
    decrypt_blob,
    new_key,
    parse_manifest,
    safe_filename,
)


def encrypt(key: bytes, data: bytes, piece: int = 10_000) -> tuple[bytes, BlobWriter]:
    writer = BlobWriter(key)
    out = [writer.write(data[i : i + piece]) for i in range(0, len(data), piece)]
    out.append(writer.finish())
    return b"".join(out), writer


def decrypt(key: bytes, blob: bytes, piece: int = 7_777) -> bytes:
    return b"".join(
        decrypt_blob(key, iter(blob[i : i + piece] for i in range(0, len(blob), piece)))
    )


@settings(max_examples=40, derandomize=True)
@given(st.binary(max_size=3 * CHUNK + 5), st.integers(min_value=1, max_value=CHUNK * 2))
def test_round_trip_in_any_pieces(data: bytes, piece: int) -> None:
    key = new_key()
    blob, writer = encrypt(key, data, piece)
    assert writer.size == len(data)
    assert writer.plain_sha256.hexdigest() == hashlib.sha256(data).hexdigest()
    assert writer.blob_sha256.hexdigest() == hashlib.sha256(blob).hexdigest()
    assert writer.blob_size == len(blob)
    assert decrypt(key, blob, piece) == data


def test_tampering_is_detected() -> None:
    key = new_key()
    data = os.urandom(3 * CHUNK + 100)
    blob, _ = encrypt(key, data)
    flipped = bytearray(blob)
    flipped[HEADER_BYTES + 100] ^= 1
    frame = 4 + CHUNK + 17
    first, second = blob[HEADER_BYTES : HEADER_BYTES + frame], blob[HEADER_BYTES + frame :]
    swapped = blob[:HEADER_BYTES] + second[:frame] + first + second[frame:]
    cases = {
        "bit flip": bytes(flipped),
        "truncated": blob[: HEADER_BYTES + frame],
        "cut mid-chunk": blob[:-10],
        "chunks reordered": swapped,
        "extra data": blob + blob[HEADER_BYTES : HEADER_BYTES + frame],
    }
    for name, bad in cases.items():
        with pytest.raises(DecryptionFailed):
            decrypt(key, bad)
        assert name
    with pytest.raises(DecryptionFailed):
        decrypt(new_key(), blob)  # another key


def _entry(**changes: object) -> dict[str, object]:
    entry = ManifestEntry("a1", "passport.jpg", "image/jpeg", 10, "0" * 64, "1" * 64, 99,
                          b"k" * 32).to_json()  # fmt: skip
    return {**entry, **changes}


@pytest.mark.parametrize(
    "bad",
    [
        _entry(filename="../../etc/passwd"),
        _entry(sha256="XYZ"),
        _entry(size=-1),
        _entry(size=True),
        _entry(key="c2hvcnQ="),
        {**_entry(), "extra": 1},
    ],
)
def test_manifest_is_strict(bad: dict[str, object]) -> None:
    with pytest.raises(Malformed):
        parse_manifest([bad], max_size=1000)


def test_manifest_limits_and_names() -> None:
    assert parse_manifest([_entry()], max_size=1000)[0].public()["filename"] == "passport.jpg"
    with pytest.raises(Malformed):
        parse_manifest([_entry(), _entry()], max_size=1000)  # duplicate ids
    with pytest.raises(Malformed):
        parse_manifest([_entry(size=5000)], max_size=1000)
    assert "key" not in ManifestEntry.from_json(_entry(), max_size=1000).public()
    assert safe_filename('a"b;c\r\n.pdf') == "a_b_c__.pdf"
