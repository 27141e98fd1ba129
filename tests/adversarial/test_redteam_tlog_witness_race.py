"""A forking log races its witness (issue 15 red team): a C2SP log whose key signs many
different trees of one size submits them all at once to ``POST /add-checkpoint``, from
the empty view and then from a size held. Exactly one is cosigned each time; every other
gets 409 with the size now held, and the witness never cosigns two roots at one size
(the check and the compare-and-swap are one transaction)."""

from __future__ import annotations

import asyncio
import base64

import aiohttp

from ..federation import Federation
from .test_tlog_witness import LOG_KEY, LOG_ORIGIN, body, checkpoint, fed, leaf, sign, subproof

__all__ = ["fed"]  # the fixture, used by name
RACERS = 12


async def _race(fed: Federation, bodies: list[bytes]) -> list[tuple[int, bytes]]:
    member = fed["MA-CNA"]
    pin = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))
    async with aiohttp.ClientSession() as session:

        async def one(data: bytes) -> tuple[int, bytes]:
            async with session.post(member.url + "/add-checkpoint", data=data, ssl=pin) as r:
                return r.status, await r.read()

        return list(await asyncio.gather(*(one(b) for b in bodies)))


async def _views(fed: Federation) -> list[tuple[int, bytes]]:
    rows = await fed["MA-CNA"].node.db.run(
        lambda c: c.execute(
            "SELECT size, root FROM witness_views WHERE origin = ?", (LOG_ORIGIN,)
        ).fetchall()
    )
    return [(int(r[0]), bytes(r[1])) for r in rows]


async def test_racing_forks_get_one_cosignature_per_size(fed: Federation) -> None:
    trees = [[leaf(b"%d/%d" % (n, i)) for i in range(5)] for n in range(RACERS)]
    notes = [sign(checkpoint(LOG_ORIGIN, t), LOG_ORIGIN, LOG_KEY) for t in trees]
    answers = await _race(fed, [body(0, [], note) for note in notes])
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * (RACERS - 1), answers
    assert all(answer == b"5\n" for status, answer in answers if status == 409)
    (winner,) = [n for n, (status, _) in enumerate(answers) if status == 200]
    root = base64.b64decode(checkpoint(LOG_ORIGIN, trees[winner]).split("\n")[2])
    assert await _views(fed) == [(5, root)]

    # from size 5, each fork grows by three leaves with a valid proof of its own: one wins
    grown = [[*trees[winner], *(leaf(b"more %d/%d" % (n, i)) for i in range(3))]
             for n in range(RACERS)]  # fmt: skip
    bodies = [
        body(5, subproof(5, t, True), sign(checkpoint(LOG_ORIGIN, t), LOG_ORIGIN, LOG_KEY))
        for t in grown
    ]
    answers = await _race(fed, bodies)
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] + [409] * (RACERS - 1), answers
    (winner,) = [n for n, (status, _) in enumerate(answers) if status == 200]
    root = base64.b64decode(checkpoint(LOG_ORIGIN, grown[winner]).split("\n")[2])
    assert await _views(fed) == [(8, root)]
    # a loser that asks again from the size now held is refused: not consistent
    loser = next(t for n, t in enumerate(grown) if n != winner)
    note = sign(checkpoint(LOG_ORIGIN, loser), LOG_ORIGIN, LOG_KEY)
    (answer,) = await _race(fed, [body(8, [], note)])
    assert answer[0] == 422, answer
    assert await _views(fed) == [(8, root)]
