"""The root a checkpoint signs: the Merkle tree head of the whole audit log, read
with one statement and the tree's missing nodes stored with one more.

``audit.tree`` completes the tree level by level before anything reads it, with two
counts per level, and ``merkle.root`` then looks up each perfect subtree of the
size's binary decomposition: 36 statements a signing at 1,400 entries, more as the log
grows. A checkpoint needs neither the whole of each level nor one look-up per
subtree: only, at each level, the nodes not yet combined into the level above (the
tree's right edge, with the leaves appended since it was last built). One UNION ALL
reads them all, one part per level; the new nodes are hashed here, inserted with one
multi-row INSERT, and the root is folded by ``merkle.root`` itself from the nodes in
hand. The tree stored afterwards is the one ``audit.complete_levels`` would have
stored, node for node.

Anything the shape of the tree does not explain (a gap in a level, leaves missing) is
left to the old path, ``merkle.root(audit.tree(conn), size)``, which fails as it did.
"""

from __future__ import annotations

import functools
import sqlite3

from ..core.merkle import node_hash, root
from . import audit
from .sql import insert_rows

_INSERT = "INSERT INTO audit_nodes (level, idx, hash) VALUES "


def signing_root(conn: sqlite3.Connection, size: int) -> bytes:
    """The root of the log's ``size`` entries (all of them), storing the tree nodes
    missing from it; inside the caller's write transaction."""
    if not conn.in_transaction:
        raise RuntimeError("the tree's nodes are stored inside the signing's transaction")
    if size == 0:
        return root(_Nodes(0, {}), 0)
    top = size.bit_length() - 1  # the highest level holding a node
    levels = [v for level in range(top + 1) for v in (level, level + 1)]
    rows = conn.execute(_edge_query(top), levels).fetchall()
    nodes = _complete(size, top, rows)
    if nodes is None:  # not the shape a tree built by complete_levels has
        return root(audit.tree(conn), size)
    have, new = nodes
    insert_rows(conn, _INSERT, new)
    return root(_Nodes(size, have), size)


@functools.lru_cache(maxsize=64)
def _edge_query(top: int) -> str:
    """Each level's nodes from twice the count of the level above: those not yet
    paired (the leaves' level: every leaf appended since the tree was last built)."""
    part = (
        "SELECT level, idx, hash FROM audit_nodes WHERE level = ? AND idx >= 2 *"
        " (SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_nodes WHERE level = ?)"
    )
    return " UNION ALL ".join([part] * (top + 1)) + " ORDER BY level, idx"


Node = tuple[int, int, bytes]


def _complete(
    size: int, top: int, rows: list[tuple[int, int, bytes]]
) -> tuple[dict[tuple[int, int], bytes], list[Node]] | None:
    """The right edge completed: every node at hand by ``(level, index)``, and those
    to insert. None when the rows are not a tree's edge over ``size`` leaves."""
    by_level: list[list[tuple[int, bytes]]] = [[] for _ in range(top + 1)]
    for level, index, digest in rows:
        by_level[level].append((int(index), bytes(digest)))
    # stored counts, from the top down: a level holds twice the level above, plus
    # the nodes not yet paired (nothing above the top level)
    first = [0] * (top + 1)  # each level's first node not paired yet
    for level in range(top - 1, -1, -1):
        first[level] = 2 * (first[level + 1] + len(by_level[level + 1]))
    have: dict[tuple[int, int], bytes] = {}
    new: list[Node] = []
    carried: list[bytes] = []  # the level's nodes hashed from the level below
    for level in range(top + 1):
        stored = by_level[level]
        if any(index != first[level] + k for k, (index, _) in enumerate(stored)):
            return None  # a gap
        start = first[level] + len(stored)  # the first node hashed here
        if level == 0 and start != size:
            return None  # leaves and entries disagree
        new += [(level, start + k, digest) for k, digest in enumerate(carried)]
        hashes = [digest for _, digest in stored] + carried
        for k, digest in enumerate(hashes):
            have[level, first[level] + k] = digest
        carried = [node_hash(hashes[k], hashes[k + 1]) for k in range(0, len(hashes) - 1, 2)]
    if carried:  # a node above the top level: more leaves than the size says
        return None
    return have, new


class _Nodes:
    """The nodes at hand as a ``merkle.HashStore`` (all ``root`` reads of a size)."""

    def __init__(self, size: int, nodes: dict[tuple[int, int], bytes]) -> None:
        self._size, self._nodes = size, nodes

    @property
    def size(self) -> int:
        return self._size

    def get(self, level: int, index: int) -> bytes:
        return self._nodes[level, index]
