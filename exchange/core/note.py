"""Signed notes, checkpoints and witness cosignatures, as the C2SP specifications say.

* c2sp.org/signed-note: a UTF-8 text ending in a newline, a blank line,
  then lines ``— <key name> base64(key ID || signature)``. An Ed25519 key
  ID is SHA-256(name || 0x0A || 0x01 || public key)[:4]; a verifier key
  (vkey) is ``<name>+<hex key ID>+base64(0x01 || public key)``.
* c2sp.org/tlog-checkpoint: the note text ``<origin>\\n<size>\\n<base64
  root>\\n`` and optional non-empty extension lines.
* c2sp.org/tlog-cosignature (Ed25519, signature type 0x04): the witness
  signs ``cosignature/v1\\ntime <unix seconds>\\n`` followed by the
  checkpoint text; the note signature is the 8-byte big-endian timestamp
  followed by the 64-byte Ed25519 signature.

Parsing is strict: one spelling per note (canonical base64, no control
characters, no leading zeros), at most 100 signatures and a size limit.
Per signed-note, signatures by unknown keys are ignored, a bad signature
by a known key rejects the whole note, and so does having none that verifies.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass
from typing import TypeAlias

import nacl.signing

from .errors import BadSignature, Malformed, TooLarge
from .keys import KEY_LENGTH, SIGNATURE_LENGTH, SigningKeyPair, verify_signature
from .merkle import HASH_LENGTH

ALG_ED25519 = 0x01
ALG_COSIGNATURE_V1 = 0x04
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 16
MAX_TREE_SIZE = 2**63 - 1
MAX_TIMESTAMP = 2**63 - 1
KEY_ID_LENGTH = 4
TIMESTAMP_LENGTH = 8

NoteSigningKey: TypeAlias = SigningKeyPair | nacl.signing.SigningKey

_SIG_PREFIX = "\u2014 "  # em dash, space
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")
_SIZE = re.compile(r"0|[1-9][0-9]*")
_HEX_KEY_ID = re.compile(r"[0-9a-f]{8}")


def note_key_id(name: str, alg: int, public_key: bytes) -> bytes:
    """SHA-256(name || 0x0A || alg || public key)[:4] (signed-note, "Signatures")."""
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public_key).digest()[:4]


def _check_name(name: str) -> None:
    if not name or "+" in name or any(c.isspace() or c < " " for c in name):
        raise Malformed("key name must be non-empty, without spaces or '+'")


def _b64decode(text: str, what: str) -> bytes:
    """Standard base64 in its one canonical spelling."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as exc:
        raise Malformed(f"{what} is not valid base64") from exc
    if base64.b64encode(data).decode("ascii") != text:
        raise Malformed(f"{what} is not canonical base64")
    return data


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _ed25519_ok(public_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        verify_signature(public_key, message, signature)
    except BadSignature:
        return False
    return True


def cosigned_message(checkpoint_body: bytes, timestamp: int) -> bytes:
    """What an Ed25519 cosignature/v1 signs (tlog-cosignature, "Ed25519 signed message")."""
    return b"cosignature/v1\ntime %d\n" % timestamp + checkpoint_body


@dataclass(frozen=True)
class Verifier:
    """A trusted note key: Ed25519 (type 0x01) or Ed25519 cosignature/v1 (type 0x04)."""

    name: str
    key_id: bytes
    public_key: bytes
    alg: int = ALG_ED25519

    @classmethod
    def ed25519(cls, name: str, public_key: bytes) -> Verifier:
        return cls._of(name, public_key, ALG_ED25519)

    @classmethod
    def cosigner(cls, name: str, public_key: bytes) -> Verifier:
        return cls._of(name, public_key, ALG_COSIGNATURE_V1)

    @classmethod
    def _of(cls, name: str, public_key: bytes, alg: int) -> Verifier:
        _check_name(name)
        if len(public_key) != KEY_LENGTH:
            raise Malformed(f"an Ed25519 public key is {KEY_LENGTH} bytes")
        return cls(name, note_key_id(name, alg, public_key), public_key, alg)

    @property
    def vkey(self) -> str:
        return f"{self.name}+{self.key_id.hex()}+{_b64(bytes([self.alg]) + self.public_key)}"

    def verify(self, message: bytes, sig: bytes) -> bool:
        """Whether ``sig`` (without the key ID) signs the note text ``message``."""
        if self.alg == ALG_ED25519:
            return _ed25519_ok(self.public_key, message, sig)
        if self.alg != ALG_COSIGNATURE_V1 or len(sig) != TIMESTAMP_LENGTH + SIGNATURE_LENGTH:
            return False
        timestamp = int.from_bytes(sig[:TIMESTAMP_LENGTH], "big")
        if timestamp > MAX_TIMESTAMP:
            return False
        signed = cosigned_message(message, timestamp)
        return _ed25519_ok(self.public_key, signed, sig[TIMESTAMP_LENGTH:])


def format_vkey(name: str, public_key: bytes) -> str:
    """The Ed25519 (type 0x01) verifier key of ``name``."""
    return Verifier.ed25519(name, public_key).vkey


def format_witness_vkey(name: str, public_key: bytes) -> str:
    """The Ed25519 cosignature/v1 (type 0x04) verifier key of witness ``name``."""
    return Verifier.cosigner(name, public_key).vkey


def parse_vkey(vkey: str) -> Verifier:
    """Parse ``<name>+<hex key ID>+<base64(type || key)>`` for type 0x01 or 0x04."""
    name, _, rest = vkey.partition("+")
    key_id_hex, _, key_b64 = rest.partition("+")
    _check_name(name)
    if not _HEX_KEY_ID.fullmatch(key_id_hex):
        raise Malformed("vkey key ID must be 8 lowercase hex digits")
    material = _b64decode(key_b64, "vkey key")
    if len(material) != 1 + KEY_LENGTH or material[0] not in (ALG_ED25519, ALG_COSIGNATURE_V1):
        raise Malformed("vkey must hold an Ed25519 key of type 0x01 or 0x04")
    verifier = Verifier._of(name, material[1:], material[0])
    if verifier.key_id.hex() != key_id_hex:
        raise Malformed("vkey key ID does not match its key")
    return verifier


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID, signature bytes."""

    name: str
    key_id: bytes
    sig: bytes

    @property
    def line(self) -> str:
        return f"{_SIG_PREFIX}{self.name} {_b64(self.key_id + self.sig)}\n"


def parse_signature(line: str) -> NoteSignature:
    """Parse one ``— <name> <base64>`` line (the final newline is optional)."""
    text = line.removesuffix("\n")
    if not text.startswith(_SIG_PREFIX) or "\n" in text:
        raise Malformed("signature line must start with an em dash and a space")
    name, _, encoded = text[len(_SIG_PREFIX) :].partition(" ")
    _check_name(name)
    raw = _b64decode(encoded, "signature")
    if len(raw) <= KEY_ID_LENGTH:
        raise Malformed("signature is too short")
    return NoteSignature(name, raw[:KEY_ID_LENGTH], raw[KEY_ID_LENGTH:])


@dataclass(frozen=True)
class Note:
    text: str
    signatures: tuple[NoteSignature, ...]

    def to_text(self) -> str:
        return self.text + "\n" + "".join(s.line for s in self.signatures)


def _check_text(text: str) -> None:
    if not text.endswith("\n"):
        raise Malformed("note text must end with a newline")
    if _CONTROL.search(text):
        raise Malformed("note must not contain control characters other than newline")
    try:
        text.encode()
    except UnicodeEncodeError as exc:
        raise Malformed("note is not valid UTF-8") from exc


def parse_note(note: str | bytes, *, max_bytes: int = MAX_NOTE_BYTES) -> Note:
    """Split a signed note into its text and signatures, without verifying them."""
    if len(note) > max_bytes:  # a str has at most as many characters as UTF-8 bytes
        raise TooLarge(f"note exceeds {max_bytes} bytes")
    try:
        raw = note.encode() if isinstance(note, str) else note
        note = raw.decode()
    except UnicodeError as exc:
        raise Malformed("note is not valid UTF-8") from exc
    if len(raw) > max_bytes:
        raise TooLarge(f"note exceeds {max_bytes} bytes")
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise Malformed("note has no blank line before its signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise Malformed("note has no signatures")
    lines = block.removesuffix("\n").split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise Malformed(f"note has more than {MAX_SIGNATURES} signatures")
    return Note(text, tuple(parse_signature(line) for line in lines))


def verify_note(
    note: Note, verifiers: Iterable[Verifier], *, required: Collection[str] = ()
) -> list[str]:
    """Names of the known keys whose signatures verify (signed-note, "Signatures").

    Raises ``BadSignature`` if a known key's signature fails, if none
    verifies, or if a name in ``required`` has no valid signature.
    """
    known: dict[tuple[str, bytes], Verifier] = {}
    for v in verifiers:
        if known.setdefault((v.name, v.key_id), v) != v:
            raise ValueError(f"two different keys named {v.name} with key ID {v.key_id.hex()}")
    message = note.text.encode()
    verified: list[str] = []
    seen: set[tuple[str, bytes]] = set()
    for s in note.signatures:
        verifier = known.get((s.name, s.key_id))
        if verifier is None or (s.name, s.key_id) in seen:
            continue
        seen.add((s.name, s.key_id))
        if not verifier.verify(message, s.sig):
            raise BadSignature(f"signature by {s.name} does not verify")
        verified.append(s.name)
    if not verified:
        raise BadSignature("note has no signature by a known key")
    missing = sorted(set(required) - set(verified))
    if missing:
        raise BadSignature(f"note is not signed by {', '.join(missing)}")
    return verified


def _signer(key: NoteSigningKey) -> tuple[bytes, Callable[[bytes], bytes]]:
    if isinstance(key, SigningKeyPair):
        return key.public.public, key.sign
    return bytes(key.verify_key), lambda message: bytes(key.sign(message).signature)


def sign_note(text: str, name: str, signing_key: NoteSigningKey) -> str:
    """The signed note of ``text`` with one Ed25519 signature by ``name``."""
    _check_text(text)
    _check_name(name)
    public_key, sign = _signer(signing_key)
    signature = NoteSignature(name, note_key_id(name, ALG_ED25519, public_key), sign(text.encode()))
    return Note(text, (signature,)).to_text()


def add_signatures(note_text: str, extra: Iterable[str | NoteSignature]) -> str:
    """The signed note with ``extra`` signatures appended, keeping the first per key."""
    note = parse_note(note_text)
    signatures = list(note.signatures)
    keys = {(s.name, s.key_id) for s in signatures}
    for item in extra:
        s = parse_signature(item) if isinstance(item, str) else item
        if (s.name, s.key_id) not in keys:
            keys.add((s.name, s.key_id))
            signatures.append(s)
    if len(signatures) > MAX_SIGNATURES:
        raise Malformed(f"note would have more than {MAX_SIGNATURES} signatures")
    return Note(note.text, tuple(signatures)).to_text()


@dataclass(frozen=True)
class Checkpoint:
    """A log's tree head as tlog-checkpoint note text."""

    origin: str
    size: int
    root: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.origin or "\n" in self.origin or _CONTROL.search(self.origin):
            raise Malformed("checkpoint origin must be one non-empty line")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise Malformed("checkpoint size is out of range")
        if len(self.root) != HASH_LENGTH:
            raise Malformed(f"checkpoint root hash must be {HASH_LENGTH} bytes")
        for line in self.extensions:
            if not line or "\n" in line or _CONTROL.search(line):
                raise Malformed("checkpoint extension lines must be non-empty single lines")

    def to_text(self) -> str:
        lines = [self.origin, str(self.size), _b64(self.root), *self.extensions]
        return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    """Parse checkpoint note text (tlog-checkpoint, "Note text"), strictly."""
    if not text.endswith("\n"):
        raise Malformed("checkpoint must end with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise Malformed("checkpoint needs origin, size and root hash lines")
    origin, size, root, *extensions = lines
    if not _SIZE.fullmatch(size):
        raise Malformed("checkpoint size must be a decimal without leading zeros")
    return Checkpoint(origin, int(size), _b64decode(root, "root hash"), tuple(extensions))


def cosign(
    checkpoint_text: str, witness_name: str, signing_key: NoteSigningKey, timestamp: int
) -> str:
    """The cosignature/v1 signature line of ``witness_name`` over a checkpoint."""
    parse_checkpoint(checkpoint_text)
    _check_name(witness_name)
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError("timestamp must be between 0 and 2**63 - 1")
    public_key, sign = _signer(signing_key)
    signature = sign(cosigned_message(checkpoint_text.encode(), timestamp))
    key_id = note_key_id(witness_name, ALG_COSIGNATURE_V1, public_key)
    sig = timestamp.to_bytes(TIMESTAMP_LENGTH, "big") + signature
    return NoteSignature(witness_name, key_id, sig).line


def verify_cosignature(
    checkpoint_text: str,
    signature: str | NoteSignature,
    witness_name: str,
    witness_public_key: bytes,
) -> int:
    """Check a witness's cosignature/v1 over a checkpoint; return its timestamp."""
    parse_checkpoint(checkpoint_text)
    s = parse_signature(signature) if isinstance(signature, str) else signature
    verifier = Verifier.cosigner(witness_name, witness_public_key)
    if (s.name, s.key_id) != (verifier.name, verifier.key_id):
        raise BadSignature(f"signature is not a cosignature by {witness_name}")
    if not verifier.verify(checkpoint_text.encode(), s.sig):
        raise BadSignature(f"cosignature by {witness_name} does not verify")
    return int.from_bytes(s.sig[:TIMESTAMP_LENGTH], "big")
