"""How many times a request's whole way through two real nodes runs the canonical
encoder (creating, sealing, sending, receiving, opening, receipting, checking the
receipt, and every audit entry on both sides): what is encoded once is spliced, not
encoded again. Counted as ``tests/core/test_encodings_per_request.py`` counts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from exchange.service import requests
from exchange.service.forms import RequestForm

from ..core.test_encodings_per_request import Encodings
from ..federation import Federation, all_delivered, wait_until

# The audit entries (4), the header and the content sealed (2), the call signed and
# checked (2), the transaction body, the envelope and the answer checked canonical (3),
# the content opened (1), the receipt's body signed and then checked (2). Before the
# header and the receipt body were reused: 21, and 16 single keys besides (measured at
# 20 nodes, 200 requests, from "go" to the last receipt).
PER_REQUEST = 14


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    federation = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], users=False)
    await federation.start()
    yield federation
    await federation.stop()


async def test_encodings_per_request(fed: Federation, monkeypatch: pytest.MonkeyPatch) -> None:
    node = fed["ES-CNA"].node
    await wait_until(lambda: all_delivered(node), what="a quiet start")
    encodings = Encodings(monkeypatch)
    for n in range(3):
        form = RequestForm(to="MA-CNA", kind="information_request", urgency="urgent",
                           subject=f"Boat {n}", body="Who?", language="en")  # fmt: skip
        await requests.create(node, actor="bench", form=form)
        await wait_until(lambda: all_delivered(node), what="the request receipted")
        assert encodings.take() == PER_REQUEST
