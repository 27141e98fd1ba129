"""The audit log's Merkle tree, exactly as RFC 9162 section 2.1 (RFC 6962 section 2.1).

Hashes: ``leaf_hash`` is SHA-256(0x00 || entry), ``node_hash`` is
SHA-256(0x01 || left || right) and the empty tree's root is SHA-256("").

Storage holds only *perfect* subtrees: ``get(level, index)`` is the hash of
the 2**level leaves starting at ``index * 2**level``. Every subtree the
RFC's MTH recursion visits is a right-to-left fold of at most log2(n)
perfect subtrees (the binary digits of its size, largest first), so roots
and proofs cost O(log n) look-ups and never rehash leaves.

Verification follows RFC 9162 sections 2.1.3.2 and 2.1.4.2 line by line and
raises ``ProofError`` (code ``bad_proof``) on any failure. Proofs are
public data, so the messages say exactly what is wrong.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Protocol

from .errors import ExchangeError

HASH_LENGTH = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

_sha256 = hashlib.sha256


class ProofError(ExchangeError):
    """An inclusion or consistency proof does not verify (RFC 9162 section 2.1)."""

    code = "bad_proof"


def leaf_hash(entry: bytes) -> bytes:
    """MTH({d(0)}) = SHA-256(0x00 || d(0)) (RFC 9162 section 2.1.1)."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right) (RFC 9162 section 2.1.1)."""
    return _sha256(b"\x01" + left + right).digest()


class HashStore(Protocol):
    """Perfect-subtree hashes of an append-only tree (``exchange.store.audit``)."""

    @property
    def size(self) -> int: ...

    def get(self, level: int, index: int) -> bytes:
        """Hash of leaves [index * 2**level, (index + 1) * 2**level); ``KeyError`` if absent."""
        ...


class MemoryHashStore:
    """A ``HashStore`` in memory, filled by the same rule as ``exchange.store.audit``."""

    def __init__(self) -> None:
        self._levels: list[list[bytes]] = [[]]

    @property
    def size(self) -> int:
        return len(self._levels[0])

    def get(self, level: int, index: int) -> bytes:
        if level < 0 or index < 0 or level >= len(self._levels):
            raise KeyError((level, index))
        try:
            return self._levels[level][index]
        except IndexError:
            raise KeyError((level, index)) from None

    def append(self, entry: bytes) -> int:
        """Append one entry; store its leaf hash and every perfect subtree it completes."""
        levels = self._levels
        index = len(levels[0])
        current = leaf_hash(entry)
        levels[0].append(current)
        level, i = 0, index
        while i & 1:
            current = node_hash(levels[level][i - 1], current)
            level, i = level + 1, i >> 1
            if level == len(levels):
                levels.append([])
            levels[level].append(current)
        return index


def subtree_hash(store: HashStore, start: int, end: int) -> bytes:
    """MTH(D[start:end]) for a range the RFC 9162 recursion visits, in O(log n) look-ups.

    Such a range starts at a multiple of the largest power of two not above
    its size, so its binary decomposition (largest first) is made of stored
    perfect subtrees; they are folded right to left as MTH does.
    """
    size = end - start
    if size <= 0 or start < 0 or end > store.size:
        raise ValueError(f"range [{start}, {end}) is not inside a tree of size {store.size}")
    top = size.bit_length() - 1
    if start & ((1 << top) - 1):
        raise ValueError(f"range [{start}, {end}) is not a subtree of the RFC 9162 recursion")
    hashes: list[bytes] = []
    position = start
    for level in range(top, -1, -1):
        if size >> level & 1:
            hashes.append(store.get(level, position >> level))
            position += 1 << level
    result = hashes.pop()
    while hashes:
        result = node_hash(hashes.pop(), result)
    return result


def root(store: HashStore, size: int) -> bytes:
    """Root hash of the first ``size`` leaves (RFC 9162 section 2.1.1)."""
    if size < 0 or size > store.size:
        raise ValueError(f"size {size} is not within the stored tree of size {store.size}")
    return EMPTY_ROOT if size == 0 else subtree_hash(store, 0, size)


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def inclusion_proof(store: HashStore, index: int, size: int) -> list[bytes]:
    """PATH(index, D[size]) of RFC 9162 section 2.1.3.1, leaf-side sibling first."""
    if size > store.size:
        raise ValueError(f"size {size} is beyond the stored tree of size {store.size}")
    if not 0 <= index < size:
        raise ValueError(f"index {index} is not in a tree of size {size}")
    siblings: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            siblings.append(subtree_hash(store, start + k, end))
            end = start + k
        else:
            siblings.append(subtree_hash(store, start, start + k))
            start += k
    siblings.reverse()
    return siblings


def consistency_proof(store: HashStore, old_size: int, new_size: int) -> list[bytes]:
    """PROOF(old_size, D[new_size]) = SUBPROOF(m, D[n], true) of RFC 9162 section 2.1.4.1.

    Empty when ``old_size`` is 0 or equals ``new_size``.
    """
    if new_size > store.size:
        raise ValueError(f"size {new_size} is beyond the stored tree of size {store.size}")
    if not 0 <= old_size <= new_size:
        raise ValueError(f"old size {old_size} is not within new size {new_size}")
    if old_size in (0, new_size):
        return []
    nodes: list[bytes] = []
    start, end, m, whole_old_tree = 0, new_size, old_size, True
    while m != end - start:
        k = _split(end - start)
        if m <= k:
            nodes.append(subtree_hash(store, start + k, end))
            end = start + k
        else:
            nodes.append(subtree_hash(store, start, start + k))
            start, m, whole_old_tree = start + k, m - k, False
    if not whole_old_tree:
        nodes.append(subtree_hash(store, start, end))
    nodes.reverse()
    return nodes


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_LENGTH:
        raise ProofError(f"{what} must be {HASH_LENGTH} bytes, not {len(value)}")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """RFC 9162 section 2.1.3.2: ``leaf`` (a leaf hash) is at ``index`` in the tree ``root``."""
    if index < 0 or index >= size:
        raise ProofError(f"leaf index {index} is not below tree size {size}")
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root hash")
    fn, sn, r = index, size - 1, leaf
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")
        if sn == 0:
            raise ProofError(f"proof has {len(proof)} hashes, more than the tree needs")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"proof has {len(proof)} hashes, fewer than the tree needs")
    if r != root:
        raise ProofError(
            f"inclusion proof of leaf {index} does not lead to the root of size {size}"
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """RFC 9162 section 2.1.4.2: the tree ``new_root`` extends the tree ``old_root``.

    Size 0 is consistent with every tree through an empty proof (its root
    must be ``EMPTY_ROOT``); equal sizes need an empty proof and equal roots.
    """
    _check_hash(old_root, "old root")
    _check_hash(new_root, "new root")
    if old_size < 0 or old_size > new_size:
        raise ProofError(f"old size {old_size} is not within new size {new_size}")
    if old_size == 0 or old_size == new_size:
        if proof:
            raise ProofError(f"proof from size {old_size} to {new_size} must be empty")
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise ProofError("root of the empty tree is not SHA-256 of the empty string")
        if old_size == new_size and old_root != new_root:
            raise ProofError(f"two different roots for tree size {old_size}")
        return
    if not proof:
        raise ProofError(f"proof from size {old_size} to {new_size} must not be empty")
    for i, p in enumerate(proof):
        _check_hash(p, f"proof hash {i}")
    path = [old_root, *proof] if old_size & (old_size - 1) == 0 else list(proof)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError(f"proof has {len(proof)} hashes, more than the sizes need")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while fn and not fn & 1:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError(f"proof has {len(proof)} hashes, fewer than the sizes need")
    if fr != old_root:
        raise ProofError(f"consistency proof does not lead to the old root of size {old_size}")
    if sr != new_root:
        raise ProofError(f"consistency proof does not lead to the new root of size {new_size}")


class TreeBuilder:
    """Streaming root of an append-only tree in O(log n) memory (for the log verifier).

    The stack holds the roots of the perfect subtrees the leaves so far
    decompose into, largest first; ``add`` merges equal-sized neighbours.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    def add(self, leaf_hash: bytes) -> None:
        """Append one leaf by its leaf hash (``leaf_hash(entry)``)."""
        stack = self._stack
        n = self._size
        h = leaf_hash
        while n & 1:
            h = _sha256(b"\x01" + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
        self._size += 1

    def add_many(self, leaf_hashes: Sequence[bytes]) -> None:
        """Append many leaves; aligned runs are hashed level by level (much faster)."""
        i, total = 0, len(leaf_hashes)
        while i < total:
            k = 0
            while k < 16 and (self._size >> k) & 1 == 0 and (2 << k) <= total - i:
                k += 1
            if k < 4:
                self.add(leaf_hashes[i])
                i += 1
                continue
            level = list(leaf_hashes[i : i + (1 << k)])
            while len(level) > 1:
                level = [
                    _sha256(b"\x01" + level[j] + level[j + 1]).digest()
                    for j in range(0, len(level), 2)
                ]
            self._push(level[0], k)
            i += 1 << k

    def _push(self, h: bytes, level: int) -> None:
        """Append a perfect subtree of 2**level leaves (size must be a multiple of it)."""
        stack = self._stack
        n = self._size >> level
        while n & 1:
            h = _sha256(b"\x01" + stack.pop() + h).digest()
            n >>= 1
        stack.append(h)
        self._size += 1 << level

    def root(self) -> bytes:
        """MTH of all leaves added so far (``EMPTY_ROOT`` when none)."""
        stack = self._stack
        if not stack:
            return EMPTY_ROOT
        h = stack[-1]
        for left in reversed(stack[:-1]):
            h = _sha256(b"\x01" + left + h).digest()
        return h
