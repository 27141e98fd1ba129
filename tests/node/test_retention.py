"""Retention between real nodes with a manual clock: contents and files past their
period are crypto-erased on both sides, metadata stays, the erasure is audited,
and the audit log still verifies."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp

from exchange.cli import main
from exchange.core.clock import ManualClock
from exchange.ops.audit_check import verify_data_dir
from exchange.ops.retention import run_pass

from ..federation import FAST_DELIVERY, ApiClient, Federation, wait_until

RETENTION = "\n[retention]\nfinished_days = 10\nundelivered_days = 5\nunsent_uploads_hours = 2\n"
FILE = b"CRIME-SCENE-PHOTO-0042 " * 1000


async def _upload(client: ApiClient, data: bytes) -> dict[str, Any]:
    form = aiohttp.FormData()
    form.add_field("file", data, filename="photo.jpg", content_type="image/jpeg")
    async with client.session.post(
        client.member.url + "/api/attachments",
        data=form,
        headers={"X-CSRF-Token": client.csrf},
        ssl=client.ssl,
    ) as r:
        assert r.status == 201
        return dict(await r.json())


async def test_finished_requests_are_erased_after_their_period(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=FAST_DELIVERY + RETENTION
    )
    fed.publish(valid=timedelta(days=60))
    await fed.start()
    es, ma = fed["ES-CNA"], fed["MA-CNA"]
    try:
        investigator = await ApiClient(es).login("investigator")
        photo = await _upload(investigator, FILE)
        stale = await _upload(investigator, b"never sent")
        status, created = await investigator.call(
            "POST",
            "/api/requests",
            {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
             "subject": "Photo", "body": "Who is on it?", "language": "en",
             "attachments": [photo["id"]]},
        )  # fmt: skip
        assert status == 201
        liaison = await ApiClient(ma).login("liaison")

        async def incoming() -> str:
            _, inbox = await liaison.call("GET", "/api/inbox")
            return str(inbox["requests"][0]["id"]) if inbox["requests"] else ""

        rid = await wait_until(incoming, what="request at MA")
        status, _ = await liaison.call("POST", f"/api/requests/{rid}/responses", {"body": "Him."})
        assert status == 200

        async def answered() -> bool:
            _, view = await investigator.call("GET", f"/api/requests/{created['id']}")
            return bool(view["status"] == "answered")

        await wait_until(answered, what="answer back at ES")
        for client in (investigator, liaison):
            await client.close()

        # nothing is due yet, except the upload never attached (after 2 hours)
        clock.advance(timedelta(hours=3))
        summary = run_pass(es.node.db, es.config, clock, es.node.vault)
        assert summary["requests_erased"] == 0 and summary["unsent_uploads_purged"] == 1
        blobs = {p.name for p in (es.data / "blobs").iterdir()}
        assert len(blobs) == 1 and stale["id"]  # only the sent photo stays

        for member in (es, ma):  # each side keeps every message's evidence document
            kept = await member.node.db.run(
                lambda c: c.execute(
                    "SELECT COUNT(*) FROM messages WHERE evidence_doc IS NULL"
                ).fetchone()[0]
            )
            assert kept == 0
        clock.advance(timedelta(days=10))
        for member in (es, ma):
            summary = run_pass(member.node.db, member.config, clock, member.node.vault)
            assert summary["requests_erased"] == 1 and summary["files_erased"] == 1
            assert list((member.data / "blobs").iterdir()) == []  # the blob files are gone
            assert verify_data_dir(member.data).ok  # the audit log still verifies
            rows = await member.node.db.run(
                lambda c: c.execute(
                    "SELECT COUNT(*) FROM messages WHERE content IS NOT NULL"
                    " OR content_key IS NOT NULL"
                    " OR evidence_doc IS NOT NULL OR evidence_key IS NOT NULL"
                ).fetchone()[0]
            )
            assert rows == 0  # contents and evidence documents alike
            entries = await member.node.db.run(
                lambda c: [json.loads(bytes(r[0])) for r in c.execute(
                    "SELECT entry FROM audit_entries ORDER BY idx").fetchall()]
            )  # fmt: skip
            erased = [e for e in entries if e["action"] == "content_erased"]
            assert len(erased) == 1 and erased[0]["messages"] == 2

        # metadata stays; contents read as erased; the file cannot be downloaded
        investigator = await ApiClient(es).login("investigator")
        status, view = await investigator.call("GET", f"/api/requests/{created['id']}")
        assert status == 200 and view["status"] == "answered" and view["erased_at"]
        assert all(m["content"] == {"erased": True} for m in view["messages"])
        status, _ = await investigator.call(
            "GET", f"/api/requests/{created['id']}/attachments/{photo['id']}"
        )
        assert status == 404
        status, page = await investigator.call("GET", f"/requests/{created['id']}")
        assert status == 200 and b"Contents erased" in page
        await investigator.close()
        # a second pass has nothing left to do
        assert run_pass(es.node.db, es.config, clock, es.node.vault)["requests_erased"] == 0
    finally:
        await fed.stop()


async def test_a_drafts_files_are_kept_until_it_is_sent_or_discarded(tmp_path: Path) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=FAST_DELIVERY + RETENTION
    )
    fed.publish(valid=timedelta(days=60))
    await fed.start()
    es = fed["ES-CNA"]
    form = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
            "subject": "Photo", "body": "Who is on it?", "language": "en"}  # fmt: skip
    try:
        investigator = await ApiClient(es).login("investigator")
        kept = await _upload(investigator, FILE)
        dropped = await _upload(investigator, b"discarded with its draft")
        _, first = await investigator.call(
            "POST", "/api/drafts", {**form, "attachments": [kept["id"]]}
        )
        _, second = await investigator.call(
            "POST", "/api/drafts", {**form, "attachments": [dropped["id"]]}
        )
        status, body = await investigator.call(
            "POST", "/api/drafts", {**form, "attachments": [kept["id"]]}
        )
        assert status == 404  # an upload belongs to one draft at a time
        assert body["error"]["code"] == "not_found"

        clock.advance(timedelta(hours=3))  # past unsent_uploads_hours
        summary = run_pass(es.node.db, es.config, clock, es.node.vault)
        assert summary["unsent_uploads_purged"] == 0  # both drafts keep their files

        status, _ = await investigator.call("DELETE", f"/api/drafts/{second['id']}")
        assert status == 200
        summary = run_pass(es.node.db, es.config, clock, es.node.vault)
        assert summary["unsent_uploads_purged"] == 1  # the discarded draft's file goes

        status, sent = await investigator.call("POST", f"/api/requests/{first['id']}/send")
        assert (status, sent["status"]) == (200, "queued")  # its file was still there
        await investigator.close()
    finally:
        await fed.stop()


def test_retention_command(tmp_path: Path, capsys: Any) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], users=False)
    data = str(fed["ES-CNA"].data)
    assert main(["retention", "run", "--data", data, "--dry-run", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["dry_run"] is True and summary["requests_erased"] == 0
    assert main(["retention", "run", "--data", data]) == 0
    assert "erased the contents of 0 request(s)" in capsys.readouterr().out
