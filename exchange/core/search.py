"""Search in memory: the words of sealed texts (subjects, bodies, references, case
titles), indexed only in the node's memory, never on disk (docs/THREAT_MODEL.md,
"Search").

A ``WordIndex`` holds documents (a request, a case) under their list key
``(created_at, id)``, numbered in key order, so that a posting list (the documents
holding a word, ascending) read backwards is newest first, and a page after a cursor
starts at a binary search. A query is whole words, folded (case, accents): a document
matches when it holds every word. The index says which documents may match; the
caller's SQL decides what the user sees (roles, filters, erasure), as for the lists.

Memory: per document 16 bytes of id, 8 of time, 9 of bookkeeping, 4 per distinct word
in its posting lists and 4 in its forward list (which lets an erased document leave
every posting list at once, and its words the vocabulary when no other document holds
them); per distinct word a vocabulary entry and a posting list.
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
from array import array
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from .canonical import parse_time
from .errors import Malformed

MAX_QUERY_CHARS = 200
MAX_TERMS = 8
CHUNK = 2048  # documents of a query's rarest word intersected at once
MAX_WORD = 40  # longer words are indexed and searched by their first 40 characters
_WORD = re.compile(r"\w+")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)

Key = tuple[int, str]  # (created_at in microseconds, id): the lists' newest-first order


def words(text: str) -> set[str]:
    """The words of a text, folded: lower case, accents removed (``Nádor`` -> ``nador``)."""
    folded = text.casefold()
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFKD", folded)
        folded = "".join(c for c in decomposed if not unicodedata.combining(c))
    return {w[:MAX_WORD] for w in _WORD.findall(folded)}


def query_terms(q: object) -> tuple[str, ...]:
    """The words a query asks for; ``Malformed`` if it is not 1-200 characters holding
    1-8 words."""
    if not isinstance(q, str) or not q.strip():
        raise Malformed("q must be the words to search for")
    if len(q) > MAX_QUERY_CHARS:
        raise Malformed(f"q must be at most {MAX_QUERY_CHARS} characters")
    terms = words(q)
    if not terms:
        raise Malformed("q must hold at least one word of letters or digits")
    if len(terms) > MAX_TERMS:
        raise Malformed(f"q must hold at most {MAX_TERMS} words")
    return tuple(sorted(terms))


def key_of(created_at: str, doc_id: str) -> Key:
    """A row's list key, from its stored ``created_at`` and id."""
    moment = parse_time(created_at)
    return ((moment - _EPOCH) // _MICROSECOND, doc_id)


class WordIndex:
    """Documents and their words; ``matches`` lists the ids holding every word of a
    query, newest first. A document is named by its key. Not thread-safe: the event
    loop's thread uses it (the start-up build fills it before anyone may search)."""

    def __init__(self) -> None:
        self._times = array("q")
        self._ids = bytearray()  # 16 bytes a document: its UUID (see _odd)
        self._odd: dict[int, str] = {}  # ids that are not a UUID in its usual form
        self._alive = bytearray()
        self._count = 0
        self._vocabulary: dict[str, int] = {}  # word -> word number
        self._words: list[str | None] = []  # word number -> word (None: free)
        self._postings: list[array[int]] = []  # word number -> documents, ascending
        self._free: list[int] = []
        # the words of each document, document after document (``_starts``), and those
        # added to a document after it was first indexed (an acknowledgement's reference)
        self._forward = array("i")
        self._starts = array("q")
        self._late: dict[int, list[int]] = {}

    def __len__(self) -> int:
        return self._count

    def __contains__(self, key: object) -> bool:
        return isinstance(key, tuple) and self._find(key) is not None

    def knows(self, word: str) -> bool:
        """Whether some document still holds this word (folded)."""
        return word in self._vocabulary

    @property
    def vocabulary(self) -> int:
        return len(self._vocabulary)

    def add(self, key: Key, found: Iterable[str]) -> None:
        """Index the words ``found`` under the document ``key`` (added to those it has)."""
        n = len(self._times)
        if n == 0 or key > self._key(n - 1):  # the newest: every posting list grows at its end
            doc = self._append(key)
            for word in found:
                wid = self._word(word)
                self._postings[wid].append(doc)
                self._forward.append(wid)
            return
        at = bisect_left(range(n), key, key=self._key)
        if at < n and self._key(at) == key:
            if not self._alive[at]:
                return  # erased: its words never come back
            doc = at
        else:
            doc = self._insert(key)
        late = self._late.setdefault(doc, [])
        for word in found:
            wid = self._word(word)
            posting = self._postings[wid]
            if not _holds(posting, doc):
                insort(posting, doc)
                late.append(wid)

    def forget(self, key: Key) -> bool:
        """Drop a document (its record was erased): it leaves every posting list, and
        its words the vocabulary when no other document holds them."""
        doc = self._find(key)
        if doc is None:
            return False
        self._alive[doc] = 0
        self._count -= 1
        for wid in self._words_of(doc):
            posting = self._postings[wid]
            at = bisect_left(posting, doc)
            if at < len(posting) and posting[at] == doc:
                del posting[at]
            word = self._words[wid]
            if not posting and word is not None:
                del self._vocabulary[word]
                self._words[wid] = None
                self._free.append(wid)
        self._late.pop(doc, None)
        return True

    def matches(self, terms: Iterable[str], *, before: Key | None = None) -> Iterator[str]:
        """The ids of the documents holding every term, newest first, strictly before
        ``before`` (a cursor's key)."""
        postings = []
        for term in terms:
            wid = self._vocabulary.get(term)
            if wid is None:
                return
            postings.append(self._postings[wid])
        if not postings:
            return
        postings.sort(key=len)
        first, rest = postings[0], postings[1:]
        end = len(first)
        if before is not None:
            end = bisect_left(first, bisect_left(range(len(self._times)), before, key=self._key))
        alive, doc_id = self._alive, self._id
        while end > 0:  # a chunk of the rarest word's documents at a time, newest first
            start = max(0, end - CHUNK)
            found = set(first[start:end])
            for posting in rest:  # intersected in C, over the same range of documents
                lo = bisect_left(posting, first[start])
                hi = bisect_left(posting, first[end - 1] + 1)
                found.intersection_update(posting[lo:hi])
                if not found:
                    break
            for doc in sorted(found, reverse=True):
                if alive[doc]:
                    yield doc_id(doc)
            end = start

    def _word(self, word: str) -> int:
        wid = self._vocabulary.get(word)
        if wid is None:
            if self._free:
                wid = self._free.pop()
                self._words[wid], self._postings[wid] = word, array("i")
            else:
                wid = len(self._words)
                self._words.append(word)
                self._postings.append(array("i"))
            self._vocabulary[word] = wid
        return wid

    def _words_of(self, doc: int) -> list[int]:
        end = self._starts[doc + 1] if doc + 1 < len(self._starts) else len(self._forward)
        return [*self._forward[self._starts[doc] : end], *self._late.get(doc, ())]

    def _find(self, key: Key) -> int | None:
        at = bisect_left(range(len(self._times)), key, key=self._key)
        if at < len(self._times) and self._alive[at] and self._key(at) == key:
            return at
        return None

    def _append(self, key: Key) -> int:
        doc = len(self._times)
        self._times.append(key[0])
        packed = _packed(key[1])
        self._ids += packed
        if _unpacked(packed) != key[1]:
            self._odd[doc] = key[1]
        self._alive.append(1)
        self._count += 1
        self._starts.append(len(self._forward))
        return doc

    def _insert(self, key: Key) -> int:
        """A document older than the newest (a clock set back): renumber all in key
        order. Rare, and linear in the index's size."""
        old = sorted(range(len(self._times)), key=self._key)
        at = bisect_left([self._key(d) for d in old], key)
        order = [*old[:at], -1, *old[at:]]
        renumber = {d: n for n, d in enumerate(order) if d >= 0}
        former = self
        fresh = WordIndex()
        for d in order:
            if d < 0:
                fresh._append(key)
                continue
            fresh._append(former._key(d))
            fresh._alive[-1] = former._alive[d]
            if former._alive[d]:
                fresh._forward.extend(former._words_of(d))
        fresh._count = sum(fresh._alive)
        self._times, self._ids, self._odd = fresh._times, fresh._ids, fresh._odd
        self._alive, self._count = fresh._alive, fresh._count
        self._forward, self._starts, self._late = fresh._forward, fresh._starts, {}
        for wid, posting in enumerate(self._postings):
            self._postings[wid] = array("i", sorted(renumber[d] for d in posting))
        return at

    def _key(self, doc: int) -> Key:
        return (self._times[doc], self._id(doc))

    def _id(self, doc: int) -> str:
        odd = self._odd.get(doc)
        return odd if odd is not None else _unpacked(self._ids[16 * doc : 16 * doc + 16])


def _holds(posting: array[int], doc: int) -> bool:
    at = bisect_left(posting, doc)
    return at < len(posting) and posting[at] == doc


def _packed(doc_id: str) -> bytes:
    try:
        return bytes.fromhex(doc_id.replace("-", ""))[:16].ljust(16, b"\0")
    except ValueError:
        return bytes(16)


def _unpacked(raw: bytes | bytearray) -> str:
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"


class Indexes:
    """A node's two indexes (requests, cases), how far they have read the database
    (``store/search_texts`` marks), and whether the start-up build is done."""

    def __init__(self) -> None:
        self.requests = WordIndex()
        self.cases = WordIndex()
        self.ready = False
        self.messages_mark = 0
        self.cases_mark = 0
        self.erased_mark = ""
        self.lock = asyncio.Lock()  # a search reads the index across awaits: one at a time
