"""/metrics in the Prometheus format: real counts from real deliveries and
rejections, backlog and deadline figures from the database, and access control."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from ..federation import FAST_DELIVERY, ApiClient, Federation, peer_post, wait_until


async def test_metrics_count_real_traffic(tmp_path: Path) -> None:
    token = "s3cret-metrics-token-for-prometheus"
    extra = FAST_DELIVERY + '\n[metrics]\ntoken_file = "metrics.token"\n'
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"], extra_config=extra)
    for member in fed.members.values():
        (member.data / "metrics.token").write_text(token + "\n")
        (member.data / "metrics.token").chmod(0o600)  # the data folder is owner-only
    await fed.start()
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    try:
        investigator = await ApiClient(es).login("investigator")
        for n in range(3):
            status, _ = await investigator.call(
                "POST",
                "/api/requests",
                {
                    "to": "MA-CNA",
                    "kind": "information_request",
                    "urgency": "emergency" if n == 0 else "urgent",
                    "subject": "Vessel",
                    "body": "Crew list, please.",
                    "language": "en",
                },
            )
            assert status == 201
        # an envelope MA cannot accept (garbage): counted by its reason
        status, _ = await _peer_garbage(fed)
        assert status == 400

        admin = await ApiClient(es).login("admin")

        async def scraped() -> str:
            status, text = await admin.call("GET", "/metrics")
            assert status == 200
            body = text.decode()
            wanted = (
                'exchange_deliveries_total{peer="MA-CNA"} 3.0',
                'exchange_deadline_requests{direction="out",state="on_track"} 3.0',
            )
            return body if all(w in body for w in wanted) else ""

        text = await wait_until(scraped, what="3 deliveries counted, 3 deadlines on track")
        assert "exchange_requests_overdue 0.0" in text
        assert 'exchange_time_to_answer_seconds_count{direction="out"} 0.0' in text
        assert "exchange_audit_log_entries" in text
        assert "Crew list" not in text and "Vessel" not in text

        async with aiohttp.ClientSession() as session:
            ssl = aiohttp.Fingerprint(bytes.fromhex(ma.fingerprint))
            async with session.get(
                ma.url + "/metrics", headers={"Authorization": f"Bearer {token}"}, ssl=ssl
            ) as r:
                body = await r.text()
                assert r.status == 200
                assert 'exchange_envelopes_accepted_total{peer="ES-CNA"} 3.0' in body
                assert 'exchange_envelopes_rejected_total{reason="malformed"} 1.0' in body
            async with session.get(
                ma.url + "/metrics", headers={"Authorization": "Bearer wrong"}, ssl=ssl
            ) as r:
                assert r.status == 401
            async with session.get(ma.url + "/metrics", ssl=ssl) as r:
                assert r.status == 401
        status, _ = await investigator.call("GET", "/metrics")
        assert status == 403
        for client in (investigator, admin):
            await client.close()
    finally:
        await fed.stop()


async def _peer_garbage(fed: Federation) -> tuple[int, object]:
    return await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", b"not an envelope")
