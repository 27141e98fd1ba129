"""The Merkle tree against published RFC 6962 vectors and a naive RFC 9162 reference.

Known answers are copied from github.com/transparency-dev/merkle:
``rfc6962/rfc6962_test.go`` (hashers), ``testonly/constants.go`` (leaves,
perfect-subtree hashes, roots), ``proof/verify_test.go`` (inclusion and
consistency proofs, and its probes for corrupted proofs) and
``compact/range_test.go`` ``TestGetRootHashGolden`` (roots of larger trees).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.core.errors import ExchangeError
from exchange.core.merkle import (
    EMPTY_ROOT,
    MemoryHashStore,
    ProofError,
    TreeBuilder,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    root,
    subtree_hash,
    verify_consistency,
    verify_inclusion,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


LEAVES = [
    h(x)
    for x in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

# testonly/constants.go NodeHashes(): [level][index] of every perfect subtree of LEAVES.
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328")],
]

# testonly/constants.go RootHashes(): root of the first n LEAVES, n = 0..8.
ROOTS = [
    h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]

# proof/verify_test.go inclusionProofs (its leaf numbers are 1-based; these indexes are 0-based).
INCLUSION = [
    (0, 1, []),
    (
        0,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        5,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (2, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        1,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]

# proof/verify_test.go consistencyProofs: (old size, new size, proof).
CONSISTENCY = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

# compact/range_test.go TestGetRootHashGolden: leaf i is the two bytes i & 0xff, (i >> 8) & 0xff.
GOLDEN_ROOTS = [
    (10, "VjWMPSYNtCuCNlF/RLnQy6HcwSk6CIipfxm+hettA+4="),
    (15, "j4SulYmocFuxdeyp12xXCIgK6PekBcxzAIj4zbQzNEI="),
    (16, "c+4Uc6BCMOZf/v3NZK1kqTUJe+bBoFtOhP+P3SayKRE="),
    (100, "dUh9hYH88p0CMoHkdr1wC2szbhcLAXOejWpINIooKUY="),
    (255, "SmdsuKUqiod3RX2jyF2M6JnbdE4QuTwwipfAowI4/i0="),
    (256, "qFI0t/tZ1MdOYgyPpPzHFiZVw86koScXy9q3FU5casA="),
    (1000, "RXrgb8xHd55Y48FbfotJwCbV82Kx22LZfEbmBGAvwlQ="),
    (4095, "cWRFdQhPcjn9WyBXE/r1f04ejxIm5lvg40DEpRBVS0w="),
    (4096, "6uU/phfHg1n/GksYT6TO9aN8EauMCCJRl3dIK0HDs2M="),
    (10000, "VZcav65F9haHVRk3wre2axFoBXRNeUh/1d9d5FQfxIg="),
    (65535, "iPuVYJhP6SEE4gUFp8qbafd2rYv9YTCDYqAxCj8HdLM="),
]

SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")


def store_of(entries: list[bytes]) -> MemoryHashStore:
    store = MemoryHashStore()
    for entry in entries:
        store.append(entry)
    return store


PUBLISHED = store_of(LEAVES)


# --- published vectors -------------------------------------------------------------------------


def test_hashers_match_rfc6962_vectors() -> None:
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert leaf_hash(b"").hex() == (
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"L123456").hex() == (
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456").hex() == (
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_store_holds_exactly_the_published_perfect_subtrees() -> None:
    for level, hashes in enumerate(NODE_HASHES):
        for index, expected in enumerate(hashes):
            assert PUBLISHED.get(level, index) == expected
    with pytest.raises(KeyError):
        PUBLISHED.get(0, 8)
    with pytest.raises(KeyError):
        PUBLISHED.get(4, 0)


@pytest.mark.parametrize("size", range(9))
def test_roots_match_published(size: int) -> None:
    assert root(PUBLISHED, size) == ROOTS[size]
    builder = TreeBuilder()
    for entry in LEAVES[:size]:
        builder.add(leaf_hash(entry))
    assert builder.size == size
    assert builder.root() == ROOTS[size]


@pytest.mark.parametrize(("size", "expected"), GOLDEN_ROOTS)
def test_larger_roots_match_published(size: int, expected: str) -> None:
    store, builder = MemoryHashStore(), TreeBuilder()
    for i in range(size):
        data = bytes([i & 0xFF, (i >> 8) & 0xFF])
        store.append(data)
        builder.add(leaf_hash(data))
    assert base64.b64encode(root(store, size)).decode() == expected
    assert base64.b64encode(builder.root()).decode() == expected


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_proofs_match_published(index: int, size: int, proof: list[bytes]) -> None:
    assert inclusion_proof(PUBLISHED, index, size) == proof
    verify_inclusion(leaf_hash(LEAVES[index]), index, size, proof, ROOTS[size])


@pytest.mark.parametrize(("old", "new", "proof"), CONSISTENCY)
def test_consistency_proofs_match_published(old: int, new: int, proof: list[bytes]) -> None:
    assert consistency_proof(PUBLISHED, old, new) == proof
    verify_consistency(old, new, ROOTS[old], ROOTS[new], proof)


def _inclusion_probes(
    index: int, size: int, proof: list[bytes], root_hash: bytes, leaf: bytes
) -> list[tuple[int, int, bytes, list[bytes], bytes]]:
    """proof/verify_test.go corruptInclusionProof: each probe must fail."""
    probes = [
        (index - 1, size, leaf, proof, root_hash),
        (index + 1, size, leaf, proof, root_hash),
        (index ^ 2, size, leaf, proof, root_hash),
        (index, size * 2, leaf, proof, root_hash),
        (index, size // 2, leaf, proof, root_hash),
        (index, size, b"WrongLeaf", proof, root_hash),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, b""], root_hash),
        (index, size, leaf, [*proof, root_hash], root_hash),
        (index, size, leaf, [b"", *proof], root_hash),
        (index, size, leaf, [root_hash, *proof], root_hash),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, leaf, flipped, root_hash))
    if proof:
        probes.append((index, size, leaf, proof[:-1], root_hash))
    if len(proof) > 1:
        probes.append((index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root_hash))
    return probes


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_corrupted_inclusion_proofs_fail(index: int, size: int, proof: list[bytes]) -> None:
    leaf = leaf_hash(LEAVES[index])
    for i, n, lf, p, r in _inclusion_probes(index, size, proof, ROOTS[size], leaf):
        with pytest.raises(ProofError):
            verify_inclusion(lf, i, n, p, r)


@pytest.mark.parametrize(("old", "new", "proof"), [c for c in CONSISTENCY if c[2]])
def test_corrupted_consistency_proofs_fail(old: int, new: int, proof: list[bytes]) -> None:
    """proof/verify_test.go corruptConsistencyProof: each probe must fail."""
    r1, r2 = ROOTS[old], ROOTS[new]
    probes = [
        (old - 1, new, r1, r2, proof),
        (old + 1, new, r1, r2, proof),
        (old ^ 2, new, r1, r2, proof),
        (old, new * 2, r1, r2, proof),
        (old, new // 2, r1, r2, proof),
        (old, new, b"WrongRoot", r2, proof),
        (old, new, r1, b"WrongRoot", proof),
        (old, new, r2, r1, proof),
        (old, new, r1, r2, []),
        (old, new, r1, r2, [*proof, b""]),
        (old, new, r1, r2, [*proof, r1]),
        (old, new, r1, r2, [*proof, r2]),
        (old, new, r1, r2, [b"", *proof]),
        (old, new, r1, r2, [r1, *proof]),
        (old, new, r1, r2, [r2, *proof]),
        (old, new, r1, r2, [proof[0], *proof]),
        (old, new, r1, r2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((old, new, r1, r2, flipped))
    for m, n, a, b, p in probes:
        with pytest.raises(ProofError):
            verify_consistency(m, n, a, b, p)


@pytest.mark.parametrize(
    ("old", "new", "old_root", "new_root", "proof", "ok"),
    [
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [], True),
        (0, 1, EMPTY_ROOT, ROOTS[1], [], True),
        (1, 1, ROOTS[1], ROOTS[1], [], True),
        (0, 0, EMPTY_ROOT, ROOTS[1], [], False),  # roots differ at equal sizes
        (1, 1, ROOTS[1], ROOTS[2], [], False),
        (0, 1, SOME_HASH, ROOTS[1], [], False),  # size 0 has exactly one root
        (0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT], False),  # equal roots, proof not empty
        (0, 1, EMPTY_ROOT, ROOTS[1], [EMPTY_ROOT], False),
        (1, 1, ROOTS[1], ROOTS[1], [EMPTY_ROOT], False),
        (1, 0, ROOTS[1], EMPTY_ROOT, [], False),  # time travel to the past
        (2, 1, ROOTS[2], ROOTS[1], [], False),
        (1, 2, ROOTS[1], ROOTS[2], [], False),  # empty proof
    ],
)
def test_consistency_edge_cases(
    old: int, new: int, old_root: bytes, new_root: bytes, proof: list[bytes], ok: bool
) -> None:
    if ok:
        verify_consistency(old, new, old_root, new_root, proof)
    else:
        with pytest.raises(ProofError):
            verify_consistency(old, new, old_root, new_root, proof)


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1), (-1, 4)])
def test_inclusion_edge_cases_fail(index: int, size: int) -> None:
    """proof/verify_test.go TestVerifyInclusion probes, plus a negative index."""
    for leaf, root_hash in ((SOME_HASH, b""), (b"", EMPTY_ROOT), (SOME_HASH, EMPTY_ROOT)):
        with pytest.raises(ProofError):
            verify_inclusion(leaf, index, size, [], root_hash)


def test_single_entry_inclusion() -> None:
    """proof/verify_test.go TestVerifyInclusionSingleEntry."""
    digest = leaf_hash(b"data")
    verify_inclusion(digest, 0, 1, [], digest)
    for leaf, root_hash in ((b"", digest), (digest, b""), (b"", b"")):
        with pytest.raises(ProofError):
            verify_inclusion(leaf, 0, 1, [], root_hash)


def test_proof_error_is_an_exchange_error() -> None:
    with pytest.raises(ExchangeError) as info:
        verify_inclusion(SOME_HASH, 3, 3, [], SOME_HASH)
    assert info.value.code == "bad_proof"
    assert "index 3" in info.value.message


def test_proofs_and_ranges_reject_bad_arguments() -> None:
    with pytest.raises(ValueError):
        inclusion_proof(PUBLISHED, 8, 8)
    with pytest.raises(ValueError):
        inclusion_proof(PUBLISHED, 0, 9)
    with pytest.raises(ValueError):
        consistency_proof(PUBLISHED, 5, 4)
    with pytest.raises(ValueError):
        consistency_proof(PUBLISHED, 1, 9)
    with pytest.raises(ValueError):
        root(PUBLISHED, 9)
    with pytest.raises(ValueError):
        subtree_hash(PUBLISHED, 1, 3)  # not a subtree of the RFC recursion
    with pytest.raises(ValueError):
        subtree_hash(PUBLISHED, 3, 3)
    assert subtree_hash(PUBLISHED, 4, 7) == node_hash(NODE_HASHES[1][2], NODE_HASHES[0][6])


# --- a naive RFC 9162 reference, and properties against it -------------------------------------

MAX_SIZE = 300
ENTRIES = [hashlib.sha256(i.to_bytes(4, "big")).digest()[: i % 40] for i in range(MAX_SIZE)]
LEAF_HASHES = [leaf_hash(e) for e in ENTRIES]
BIG = store_of(ENTRIES)


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def ref_mth(start: int, end: int) -> bytes:
    """MTH(D[start:end]) by the recursive definition of RFC 9162 section 2.1.1."""
    n = end - start
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return LEAF_HASHES[start]
    k = _k(n)
    return hashlib.sha256(b"\x01" + ref_mth(start, start + k) + ref_mth(start + k, end)).digest()


def ref_path(m: int, start: int, end: int) -> list[bytes]:
    """PATH(m, D[start:end]) of RFC 9162 section 2.1.3.1."""
    n = end - start
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path(m, start, start + k), ref_mth(start + k, end)]
    return [*ref_path(m - k, start + k, end), ref_mth(start, start + k)]


def ref_subproof(m: int, start: int, end: int, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[start:end], b) of RFC 9162 section 2.1.4.1."""
    n = end - start
    if m == n:
        return [] if b else [ref_mth(start, end)]
    k = _k(n)
    if m <= k:
        return [*ref_subproof(m, start, start + k, b), ref_mth(start + k, end)]
    return [*ref_subproof(m - k, start + k, end, False), ref_mth(start, start + k)]


def test_every_proof_for_small_trees_matches_the_reference() -> None:
    for size in range(1, 65):
        assert root(BIG, size) == ref_mth(0, size)
        for index in range(size):
            proof = inclusion_proof(BIG, index, size)
            assert proof == ref_path(index, 0, size)
            verify_inclusion(LEAF_HASHES[index], index, size, proof, ref_mth(0, size))
        for old in range(1, size + 1):
            proof = consistency_proof(BIG, old, size)
            assert proof == ref_subproof(old, 0, size, True)
            verify_consistency(old, size, ref_mth(0, old), ref_mth(0, size), proof)


def test_tree_builder_matches_the_reference_at_every_size() -> None:
    builder = TreeBuilder()
    assert builder.root() == EMPTY_ROOT
    for i, digest in enumerate(LEAF_HASHES):
        builder.add(digest)
        assert builder.size == i + 1
        assert builder.root() == ref_mth(0, i + 1)


sizes = st.integers(min_value=1, max_value=MAX_SIZE)


@st.composite
def index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(sizes)
    return draw(st.integers(min_value=0, max_value=size - 1)), size


@st.composite
def old_and_new(draw: st.DrawFn) -> tuple[int, int]:
    new = draw(sizes)
    return draw(st.integers(min_value=1, max_value=new)), new


@settings(max_examples=300, deadline=None)
@given(index_and_size(), st.data())
def test_inclusion_proofs_verify_and_tampering_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    index, size = case
    proof = inclusion_proof(BIG, index, size)
    assert proof == ref_path(index, 0, size)
    verify_inclusion(LEAF_HASHES[index], index, size, proof, ref_mth(0, size))

    if proof:
        which = data.draw(st.integers(0, len(proof) - 1), label="hash")
        byte = data.draw(st.integers(0, 31), label="byte")
        bad = list(proof)
        bad[which] = bad[which][:byte] + bytes([bad[which][byte] ^ 1]) + bad[which][byte + 1 :]
        with pytest.raises(ProofError):
            verify_inclusion(LEAF_HASHES[index], index, size, bad, ref_mth(0, size))

    other = data.draw(st.integers(0, MAX_SIZE), label="other index")
    if other != index:
        with pytest.raises(ProofError):
            verify_inclusion(LEAF_HASHES[index], other, size, proof, ref_mth(0, size))

    # A proof proves membership of the tree it was made for, not of a tree of another size.
    wrong = data.draw(st.integers(1, MAX_SIZE), label="other size")
    if wrong != size:
        with pytest.raises(ProofError):
            verify_inclusion(LEAF_HASHES[index], index, wrong, proof, ref_mth(0, wrong))


@settings(max_examples=300, deadline=None)
@given(old_and_new(), st.data())
def test_consistency_proofs_verify_and_tampering_fails(
    case: tuple[int, int], data: st.DataObject
) -> None:
    old, new = case
    proof = consistency_proof(BIG, old, new)
    assert proof == ref_subproof(old, 0, new, True)
    verify_consistency(old, new, ref_mth(0, old), ref_mth(0, new), proof)

    if proof:
        which = data.draw(st.integers(0, len(proof) - 1), label="hash")
        byte = data.draw(st.integers(0, 31), label="byte")
        bad = list(proof)
        bad[which] = bad[which][:byte] + bytes([bad[which][byte] ^ 1]) + bad[which][byte + 1 :]
        with pytest.raises(ProofError):
            verify_consistency(old, new, ref_mth(0, old), ref_mth(0, new), bad)

    m = data.draw(st.integers(1, MAX_SIZE), label="other old size")
    n = data.draw(st.integers(1, MAX_SIZE), label="other new size")
    if (m, n) != (old, new) and not (m <= n and consistency_proof(BIG, m, n) == proof):
        with pytest.raises(ProofError):
            verify_consistency(m, n, ref_mth(0, m), ref_mth(0, n), proof)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=3000), min_size=1, max_size=4))
def test_add_many_equals_adding_one_by_one(runs: list[int]) -> None:
    one, many = TreeBuilder(), TreeBuilder()
    counter = 0
    for run in runs:
        leaves = [leaf_hash(b"%d" % (counter + i)) for i in range(run)]
        counter += run
        for leaf in leaves:
            one.add(leaf)
        many.add_many(leaves)
        assert (many.size, many.root()) == (one.size, one.root())
