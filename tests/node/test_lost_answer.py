"""An answer lost on its way back: the sender asks again, the receiver answers the
duplicate with the receipt it issued the first time, and the sender keeps it, although
that receipt's time is now older than the clock skew allows around the new answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from exchange.core.canonical import b64e, canonical_json
from exchange.core.clock import ManualClock

from ..federation import FAST_DELIVERY, ApiClient, Federation, peer_post, wait_until

REQUEST = {"to": "MA-CNA", "kind": "information_request", "urgency": "standard",
           "subject": "Boat", "body": "Who owns the boat?", "language": "en"}  # fmt: skip


async def test_a_receipt_asked_for_again_an_hour_later_is_kept(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=FAST_DELIVERY)
    await fed.start()
    client = None
    try:
        await fed.stop("MA-CNA")  # the envelope waits in ES's outbox
        client = await ApiClient(fed["ES-CNA"]).login("investigator")
        status, created = await client.call("POST", "/api/requests", REQUEST)
        assert status == 201, created
        es = fed["ES-CNA"].node

        def envelope(c: Any) -> bytes:
            sql = "SELECT envelope FROM outbox WHERE msg_id = ?"
            return bytes(c.execute(sql, (created["msg_id"],)).fetchone()[0])

        sent = await es.db.run(envelope)
        await fed.start("MA-CNA")
        # MA gets the envelope and answers; the answer never reaches ES
        body = canonical_json({"envelopes": [b64e(sent)]})
        status, answer = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/transactions", body)
        assert status == 200 and "receipt" in answer["results"][0], answer
        first = answer["results"][0]["receipt"]
        clock.advance(timedelta(hours=1))  # ES tries again an hour later
        es.wake_delivery()

        async def delivered() -> bool:
            def read(c: Any) -> str:
                sql = "SELECT status FROM requests WHERE id = ?"
                return str(c.execute(sql, (created["id"],)).fetchone()[0])

            return await es.db.run(read) == "delivered"

        await wait_until(delivered, what="the duplicate's receipt kept")

        def kept(c: Any) -> str:
            sql = "SELECT receipt FROM messages WHERE msg_id = ? AND sender = 'ES-CNA'"
            return str(c.execute(sql, (created["msg_id"],)).fetchone()[0])

        assert canonical_json(first) == (await es.db.run(kept)).encode()  # the first one
    finally:
        if client is not None:
            await client.close()
        await fed.stop()
