"""Directory documents verified once per process, and shared by the nodes in it.

Several nodes in one process (the scale benchmark, a test federation) hold the same
signed document. Each would parse it, check the operator's signature and every
entry's self-signature, and keep its own copy: N entries checked by N nodes, O(N²)
in all, and N copies in memory (~2.3 MB each at 1,000 entries). What that
verification concludes depends only on the document's bytes, the pinned operator keys
and the size bound, so it is kept per (bytes, keys, bound) and shared:

* the key is the document itself, compared byte for byte on every hit (not a digest:
  no collision to find), with the set of pinned keys of the node asking;
* only documents that verified are kept; a refused one is checked again every time;
* the checks that depend on the node, the serial it holds (rollback) and its clock
  (expired, issued in the future), run on every call (``directory.check_held``).

A node alone in its process (production) verifies each document exactly as before.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime

from .directory import MAX_DIRECTORY_BYTES, Directory, check_held, verify_directory
from .directory_search import DirectoryIndex

KEPT = 2  # documents: the one held, and the next while nodes move over to it


@dataclass(frozen=True)
class Verified:
    """A verified directory, the bytes it was read from (one copy per process) and
    its search index."""

    directory: Directory
    document: bytes
    index: DirectoryIndex = field(repr=False, compare=False)


class VerifiedDirectories:
    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._held: OrderedDict[tuple[bytes, frozenset[bytes], int], Verified] = OrderedDict()
        self._lock = threading.Lock()  # nodes of one process may run on several threads

    def verify(
        self,
        document: bytes,
        *,
        pinned_operator_keys: tuple[bytes, ...],
        now: datetime,
        held_serial: int | None = None,
        check_time: bool = True,
        max_bytes: int = MAX_DIRECTORY_BYTES,
    ) -> Verified:
        """As ``directory.verify_directory``; raises ``DirectoryRejected`` saying why."""
        key = (document, frozenset(pinned_operator_keys), max_bytes)
        with self._lock:
            verified = self._held.get(key)
            if verified is not None:
                self._held.move_to_end(key)
        if verified is None:
            directory = verify_directory(
                document,
                pinned_operator_keys=pinned_operator_keys,
                now=now,
                max_bytes=max_bytes,
                check_time=False,  # the node's own checks follow, on every call
            )
            verified = Verified(directory, document, DirectoryIndex(directory))
            with self._lock:
                self._held[key] = verified
                while len(self._held) > self._kept:
                    self._held.popitem(last=False)
        check_held(verified.directory, now=now, held_serial=held_serial, check_time=check_time)
        return verified


SHARED = VerifiedDirectories()
