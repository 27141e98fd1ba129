"""Search: requests by reference, subject, body or authority, and the case board's text
filter, through an index kept in memory only (``core/search.py``; why, and what a disk
thief learns, in docs/THREAT_MODEL.md "Search").

The index is built at start-up in a thread of its own, reading through a read-only
connection so the node serves lists meanwhile; until it is built, search answers
``index_building`` (503). Afterwards every search first catches up with the database
(``store/search_texts``: messages and cases stored since, requests erased since), so
whatever path stored a request (created, sent from a draft, received, transferred)
or erased one, a search sees it. The index only proposes candidates: the lists' own
WHERE clause (``store/request_lists.among``, ``case_lists.among``) decides what the
user sees, so whoever cannot see a request in a list cannot find it by search.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import time
from collections.abc import Awaitable, Callable, Iterator
from itertools import islice
from typing import TypeVar

import structlog

from ..config import NodeConfig
from ..core.errors import IndexBuilding
from ..core.roles import Role
from ..core.search import Indexes, key_of, query_terms
from ..core.vault import Vault
from ..store import case_lists, request_lists
from ..store import search_texts as texts
from ..store.case_lists import CaseFilter
from ..store.cases import CaseRow
from ..store.engine import open_reader
from ..store.paging import Page, page_of
from ..store.request_lists import RequestFilter
from ..store.rows import RequestRow
from .node import Node
from .paging import PAGE_SIZE, Listed, listed, position
from .requests import RequestPage, _listed
from .sessions import User

log = structlog.get_logger("exchange.search")
CANDIDATES = 500  # ids checked against the list's WHERE clause per query
Row = TypeVar("Row")


async def build(node: Node) -> None:
    """Build the node's indexes from the decrypted contents, off the event loop."""
    started = time.perf_counter()
    await asyncio.to_thread(build_now, node.search, node.config, node.vault)
    node.search.ready = True
    log.info(
        "search_index_built",
        requests=len(node.search.requests),
        cases=len(node.search.cases),
        words=node.search.requests.vocabulary,
        seconds=round(time.perf_counter() - started, 3),
    )


def build_now(indexes: Indexes, config: NodeConfig, vault: Vault) -> None:
    """Read every indexed text after the marks, in batches (``build``'s thread)."""
    conn = open_reader(config)
    try:
        _, _, indexes.erased_mark = texts.marks(conn)
        _catch_up(conn, vault, indexes)
    finally:
        conn.close()


def _catch_up(conn: sqlite3.Connection, vault: Vault, indexes: Indexes) -> None:
    while True:
        found = texts.case_texts(conn, vault, after=indexes.cases_mark)
        for key, words in found.cases:
            indexes.cases.add(key, words)
        indexes.cases_mark = found.mark
        if not found.more:
            break
    while True:
        found = texts.request_texts(conn, vault, after=indexes.messages_mark)
        for key, words in found.requests:
            indexes.requests.add(key, words)
        for key, words in found.cases:
            indexes.cases.add(key, words)
        indexes.messages_mark = found.mark
        if not found.more:
            break
    erased = texts.erased_since(conn, indexes.erased_mark)
    for key in erased.requests:
        indexes.requests.forget(key)
    for key in erased.cases:
        indexes.cases.forget(key)
    for key, words in texts.case_words(conn, vault, erased.cases):
        indexes.cases.add(key, words)  # what remains of a case after an erasure in it
    indexes.erased_mark = erased.mark


async def refresh(node: Node) -> None:
    """Catch up with what was stored or erased since the last search (``IndexBuilding``
    while the start-up build runs)."""
    if not node.search.ready:
        raise IndexBuilding("the search index is being built; try again in a few seconds")
    await node.db.run(lambda c: _catch_up(c, node.vault, node.search))


async def search_requests(
    node: Node, user: User, q: object, *, cursor: str | None, limit: int = PAGE_SIZE
) -> RequestPage:
    """A page of the requests holding every word of ``q`` that the user may see in the
    requests list, newest first (cursors of the list ``requests``)."""
    terms = query_terms(q)
    after = position(cursor, "requests")
    wanted, author = RequestFilter(), None
    if user.role is Role.INVESTIGATOR:  # the rule of requests.visible
        wanted, author = dataclasses.replace(wanted, direction="out"), user.username
    before = key_of(str(after[0]), str(after[1])) if after else None

    async def check(ids: list[str]) -> list[RequestRow]:
        return await node.db.run(
            lambda c: request_lists.among(c, wanted, ids, drafts_of=user.username, author=author)
        )

    async with node.search.lock:
        await refresh(node)
        candidates = node.search.requests.matches(terms, before=before)
        rows = await _collect(candidates, limit, check)
    page = page_of(rows[: limit + 1], limit, lambda row: (row.created_at, row.id))
    return await _listed(node, page, "requests")


async def filter_cases(
    node: Node,
    user: User,
    text: str,
    wanted: CaseFilter,
    *,
    cursor: str | None,
    limit: int = PAGE_SIZE,
) -> Listed[CaseRow]:
    """The case board's page with its text filter: the cases whose title, reference
    (or, implicit, their requests' subjects) hold every word, under the board's other
    filters and rule of who sees which case."""
    terms = query_terms(text)
    after = position(cursor, "cases")
    created_by = user.username if user.role is Role.INVESTIGATOR else None
    before = key_of(str(after[0]), str(after[1])) if after else None

    async def check(ids: list[str]) -> list[CaseRow]:
        return await node.db.run(
            lambda c: case_lists.among(c, node.vault, wanted, ids, created_by=created_by)
        )

    async with node.search.lock:
        await refresh(node)
        rows = await _collect(node.search.cases.matches(terms, before=before), limit, check)
    page: Page[CaseRow] = page_of(rows[: limit + 1], limit, lambda row: (row.created_at, row.id))
    return listed(page, "cases")


async def _collect(
    candidates: Iterator[str], limit: int, check: Callable[[list[str]], Awaitable[list[Row]]]
) -> list[Row]:
    """Candidates checked a batch at a time until a page and one more row are found
    (or none is left): a page's worth first (most candidates pass for a liaison
    prosecutor), then twice as many each time, up to CANDIDATES. The caller holds the
    index's lock: nothing changes it meanwhile."""
    rows: list[Row] = []
    size = limit + 1
    while len(rows) <= limit and (batch := list(islice(candidates, size))):
        rows += await check(batch)
        size = min(size * 2, CANDIDATES)
    return rows


async def after_erasure(node: Node) -> None:
    """Drop what a retention pass erased from the index at once (a search would catch
    up anyway), so erased words do not wait in memory for the next search."""
    if node.search.ready:
        async with node.search.lock:
            await node.db.run(lambda c: _catch_up(c, node.vault, node.search))
