"""Anyone on the internet may call ``POST /add-checkpoint`` (issue 15 red team): valid
submissions to a real node, mutated by hypothesis (flipped, cut, spliced, extended),
get a clean 4xx the specification names (400, 403, 404, 409, 413, 422), never a 500,
and a refused one leaves the witness's view as it was."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings

from ..federation import FAST_DELIVERY, Federation
from ..fuzz.test_mutations import mutated
from .test_tlog_witness import LOG_KEY, LOG_ORIGIN, body, checkpoint, leaf, sign, subproof, vkey

CLEAN = {400, 403, 404, 409, 413, 422}
TREE = [leaf(b"entry %d" % i) for i in range(8)]
FIRST = body(0, [], sign(checkpoint(LOG_ORIGIN, TREE[:5]), LOG_ORIGIN, LOG_KEY))
NEXT = body(5, subproof(5, TREE, True), sign(checkpoint(LOG_ORIGIN, TREE), LOG_ORIGIN, LOG_KEY))


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    extra = FAST_DELIVERY + (
        "\n[witness]\nsubmissions_per_minute = 1000000\nsubmission_burst = 100000\n"
        f'\n[[witness.logs]]\norigin = "{LOG_ORIGIN}"\n'
        f'vkey = "{vkey(LOG_ORIGIN, bytes(LOG_KEY.verify_key))}"\n'
    )
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=extra, users=False)
    await fed.start()
    yield fed
    await fed.stop()


async def test_mutated_submissions_get_clean_refusals_and_change_nothing(fed: Federation) -> None:
    member = fed["MA-CNA"]
    pin = aiohttp.Fingerprint(bytes.fromhex(member.fingerprint))
    loop = asyncio.get_running_loop()

    async def submit(data: bytes) -> int:
        async with (
            aiohttp.ClientSession() as session,
            session.post(member.url + "/add-checkpoint", data=data, ssl=pin) as response,
        ):
            await response.read()
            return response.status

    async def view() -> list[tuple[object, ...]]:
        return await member.node.db.run(
            lambda c: c.execute("SELECT origin, size, root, cosignature FROM witness_views")
            .fetchall()
        )  # fmt: skip

    def call(coroutine: object) -> object:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result(timeout=60)  # type: ignore[arg-type]

    assert await submit(FIRST) == 200  # the witness holds size 5: NEXT extends it

    @settings(max_examples=150, derandomize=True, deadline=None,
              suppress_health_check=[HealthCheck.too_slow])  # fmt: skip
    @given(mutated(NEXT))
    def fuzz(data: bytes) -> None:
        before = call(view())
        status = call(submit(data))
        if status != 200:
            assert status in CLEAN, (status, data)
            assert call(view()) == before, data

    await asyncio.to_thread(fuzz)
