"""Search in memory: the words of sealed texts (subjects, bodies, references, case
titles), indexed only in the node's memory, never on disk (docs/THREAT_MODEL.md,
"Search").

A ``WordIndex`` holds documents (a request, a case) under their list key
``(created_at, id)``, numbered in key order, so that a posting list (the documents
holding a word, ascending) read backwards is newest first, and a page after a cursor
starts at a binary search. A query is whole words, folded (case, accents): a document
matches when it holds every word. The index says which documents may match; the
caller's SQL decides what the user sees (roles, filters, erasure), as for the lists.

Memory: per document 16 bytes of id, 8 of time, 4 per distinct word in its posting
lists and 4 in its forward list (which lets an erased document leave every posting
list at once, and its words the vocabulary when no other document holds them).
"""

from __future__ import annotations

import asyncio
import re
import unicodedata
import uuid
from array import array
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta

from .canonical import parse_time
from .errors import Malformed

MAX_QUERY_CHARS = 200
MAX_TERMS = 8
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
    query, newest first. Not thread-safe: the event loop's thread uses it."""

    def __init__(self) -> None:
        self._times = array("q")
        self._ids = bytearray()  # 16 bytes a document: its UUID (see _odd)
        self._odd: dict[int, str] = {}  # ids that are not a UUID in its usual form
        self._docs: dict[str, int] = {}
        self._alive = bytearray()
        self._vocabulary: dict[str, int] = {}
        self._spelling: dict[int, str] = {}
        self._next_word = 0
        self._postings: dict[int, array[int]] = {}
        self._forward: list[array[int]] = []

    def __len__(self) -> int:
        return len(self._docs)

    def __contains__(self, doc_id: object) -> bool:
        return doc_id in self._docs

    def knows(self, word: str) -> bool:
        """Whether some document still holds this word (folded)."""
        return word in self._vocabulary

    @property
    def vocabulary(self) -> int:
        return len(self._vocabulary)

    def add(self, key: Key, found: Iterable[str]) -> None:
        """Index the words ``found`` under the document ``key`` (added to those it has)."""
        doc = self._docs.get(key[1])
        if doc is None:
            doc = self._new(key)
        forward = self._forward[doc]
        for word in found:
            wid = self._vocabulary.get(word)
            if wid is None:
                wid, self._next_word = self._next_word, self._next_word + 1
                self._vocabulary[word], self._spelling[wid] = wid, word
                self._postings[wid] = array("i")
            posting = self._postings[wid]
            if not posting or posting[-1] < doc:
                posting.append(doc)
                forward.append(wid)
            elif not _holds(posting, doc):
                insort(posting, doc)
                forward.append(wid)

    def forget(self, doc_id: str) -> bool:
        """Drop a document (its record was erased): it leaves every posting list, and
        its words the vocabulary when no other document holds them."""
        doc = self._docs.pop(doc_id, None)
        if doc is None:
            return False
        self._alive[doc] = 0
        for wid in self._forward[doc]:
            posting = self._postings[wid]
            at = bisect_left(posting, doc)
            if at < len(posting) and posting[at] == doc:
                del posting[at]
            if not posting:
                del self._postings[wid], self._vocabulary[self._spelling.pop(wid)]
        self._forward[doc] = array("i")
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
        for i in range(end - 1, -1, -1):
            doc = first[i]
            if self._alive[doc] and all(_holds(p, doc) for p in rest):
                yield self._id(doc)

    def _new(self, key: Key) -> int:
        doc = len(self._times)
        if doc and key < self._key(doc - 1):
            return self._insert(key)
        self._times.append(key[0])
        self._ids += _packed(key[1])
        if _unpacked(self._ids[16 * doc :]) != key[1]:
            self._odd[doc] = key[1]
        self._alive.append(1)
        self._forward.append(array("i"))
        self._docs[key[1]] = doc
        return doc

    def _insert(self, key: Key) -> int:
        """A document older than the newest (a clock set back): renumber all in key
        order. Rare, and linear in the index's size."""
        old = sorted(range(len(self._times)), key=self._key)
        keys = [self._key(d) for d in old]
        at = bisect_left(keys, key)
        order = [*old[:at], -1, *old[at:]]
        renumber = {d: n for n, d in enumerate(order) if d >= 0}
        times, ids, alive, forward, odd = array("q"), bytearray(), bytearray(), [], {}
        for n, d in enumerate(order):
            times.append(key[0] if d < 0 else self._times[d])
            the_id = key[1] if d < 0 else self._id(d)
            ids += _packed(the_id)
            if _unpacked(ids[16 * n :]) != the_id:
                odd[n] = the_id
            alive.append(1 if d < 0 else self._alive[d])
            forward.append(array("i") if d < 0 else self._forward[d])
        for wid, posting in self._postings.items():
            self._postings[wid] = array("i", sorted(renumber[d] for d in posting))
        self._times, self._ids, self._alive, self._forward, self._odd = (
            times, ids, alive, forward, odd
        )  # fmt: skip
        self._docs = {self._id(n): n for n in range(len(order)) if alive[n]}
        self._docs[key[1]] = at
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
        return uuid.UUID(doc_id).bytes
    except ValueError:
        return bytes(16)


def _unpacked(raw: bytes | bytearray) -> str:
    return str(uuid.UUID(bytes=bytes(raw[:16])))


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
