"""Cases against the users who should not have them, and against time.

* Roles: auditors and admins see no case and open none; a liaison prosecutor opens
  none; an investigator reaches another investigator's case neither by its id nor by
  filing a request in it (the answer is the one for a case that does not exist).
* Bad input gets a precise code and status, never a 500, and changes nothing stored.
* Titles and references never lie in the database in clear, and are erased with the
  case's last request (docs/THREAT_MODEL.md, "Cases").
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from exchange.core.clock import ManualClock
from exchange.ops.audit_check import verify_data_dir
from exchange.ops.provision import add_user
from exchange.ops.retention import run_pass

from ..federation import FAST_DELIVERY, PASSWORD, ApiClient, Federation, Member, wait_until
from ..storage import stored_bytes

CASE = {
    "title": "Network of Ndiaye-Moreau",
    "reference": "UCRIF-AL-2026-0042",
    "offences": ["migrant_smuggling", "trafficking_in_persons"],
    "route": [{"country": "SN", "role": "origin"}, {"country": "ES", "role": "destination"}],
}
FORM = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "standard",
    "subject": "Vessel",
    "body": "Who owns the vessel?",
    "language": "en",
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    add_user(fed["ES-CNA"].data, username="colleague", password=PASSWORD, role="investigator")
    await fed.start()
    yield fed
    await fed.stop()


async def stored(member: Member) -> dict[str, Any]:
    """What a refusal must not change: rows of every table a case or request writes,
    the audit log's leaves."""

    def read(conn: Any) -> dict[str, Any]:
        tables = ("cases", "requests", "messages", "events", "outbox", "audit_entries")
        counts = {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}  # noqa: S608
        counts["cases_state"] = conn.execute(
            "SELECT group_concat(id || status, ',') FROM cases"
        ).fetchone()[0]
        return counts

    return await member.node.db.run(read)


async def test_roles_and_other_investigators_cases_are_refused(fed: Federation) -> None:
    es = fed["ES-CNA"]
    owner = await ApiClient(es).login("investigator")
    status, case = await owner.call("POST", "/api/cases", CASE)
    assert status == 201
    clients = {
        role: await ApiClient(es).login(role)
        for role in ("colleague", "liaison", "auditor", "admin")
    }
    try:
        before = await stored(es)
        path = f"/api/cases/{case['id']}"
        refusals = [
            (clients["auditor"], "GET", "/api/cases", None, 403, "forbidden"),
            (clients["admin"], "GET", "/api/cases", None, 403, "forbidden"),
            (clients["auditor"], "GET", path, None, 403, "forbidden"),
            (clients["admin"], "GET", path, None, 403, "forbidden"),
            (clients["auditor"], "POST", f"{path}/close", None, 403, "forbidden"),
            (clients["admin"], "POST", "/api/cases", CASE, 403, "forbidden"),
            (clients["liaison"], "POST", "/api/cases", CASE, 403, "forbidden"),
            # another investigator's case is as unknown as a missing one
            (clients["colleague"], "GET", path, None, 404, "unknown_case"),
            (clients["colleague"], "POST", f"{path}/close", None, 404, "unknown_case"),
            (clients["colleague"], "POST", "/api/requests", {**FORM, "case_id": case["id"]},
             404, "unknown_case"),
            (owner, "GET", "/api/cases/0190c6c2-0000-7000-8000-000000000000", None,
             404, "unknown_case"),
            (owner, "POST", "/api/requests",
             {**FORM, "case_id": "0190c6c2-0000-7000-8000-000000000000"}, 404, "unknown_case"),
        ]  # fmt: skip
        for client, method, url, body, code, error in refusals:
            status, answer = await client.call(method, url, body)
            assert (status, answer["error"]["code"]) == (code, error), (client, method, url)
        status, page = await clients["colleague"].call("GET", "/api/cases")
        assert status == 200 and page["cases"] == []
        assert await stored(es) == before
        # the liaison prosecutor reads every case, and may close it
        status, view = await clients["liaison"].call("GET", path)
        assert status == 200 and view["title"] == CASE["title"]
    finally:
        await owner.close()
        for client in clients.values():
            await client.close()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**CASE, "title": ""}, "title"),
        ({**CASE, "title": "x" * 201}, "title"),
        ({**CASE, "reference": "r" * 101}, "reference"),
        ({**CASE, "offences": []}, "offences"),
        ({**CASE, "offences": ["piracy"]}, "offences"),
        ({**CASE, "route": [{"country": "Senegal", "role": "origin"}]}, "route country"),
        ({**CASE, "route": [{"country": "SN", "role": "source"}]}, "route role"),
        ({**CASE, "route": [{"country": "SN", "role": "transit"}] * 21}, "route"),
        ({**CASE, "status": "closed"}, "unknown field"),
        ([CASE], "JSON object"),
    ],
)
async def test_bad_cases_are_refused_and_change_nothing(
    fed: Federation, body: Any, field: str
) -> None:
    es = fed["ES-CNA"]
    client = await ApiClient(es).login("investigator")
    try:
        before = await stored(es)
        status, answer = await client.call("POST", "/api/cases", body)
        assert (status, answer["error"]["code"]) == (400, "malformed"), answer
        assert field in answer["error"]["message"]
        assert await stored(es) == before
    finally:
        await client.close()


async def test_bad_list_queries_and_case_ids_are_refused(fed: Federation) -> None:
    es = fed["ES-CNA"]
    client = await ApiClient(es).login("investigator")
    try:
        before = await stored(es)
        for query in ("status=pending", "country=sn", "country=SEN", "overdue=yes",
                      "limit=0", "cursor=not-a-cursor", "authority=" + "A" * 101):  # fmt: skip
            status, answer = await client.call("GET", f"/api/cases?{query}")
            assert (status, answer["error"]["code"]) == (400, "malformed"), query
        status, answer = await client.call("POST", "/api/requests", {**FORM, "case_id": 7})
        assert (status, answer["error"]["code"]) == (400, "malformed")
        assert await stored(es) == before
    finally:
        await client.close()


RETENTION = "\n[retention]\nopen_days = 3\n"


async def test_titles_are_sealed_at_rest_and_erased_with_the_last_request(
    tmp_path: Path,
) -> None:
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0))
    fed = Federation.create(
        tmp_path, ["ES-CNA", "MA-CNA"], clock=clock, extra_config=FAST_DELIVERY + RETENTION
    )
    fed.publish(valid=timedelta(days=60))
    await fed.start()
    es = fed["ES-CNA"]
    secrets = [CASE["title"].encode(), CASE["reference"].encode()]

    def database_bytes() -> bytes:
        return stored_bytes(es.data)

    async def names() -> tuple[Any, ...]:
        return tuple(
            await es.node.db.run(
                lambda c: c.execute(
                    "SELECT names_key, names, erased_at FROM cases WHERE id = ?", (case["id"],)
                ).fetchone()
            )
        )

    try:
        client = await ApiClient(es).login("investigator")
        status, case = await client.call("POST", "/api/cases", CASE)
        assert status == 201

        async def delivered() -> bool:
            _, view = await client.call("GET", f"/api/cases/{case['id']}")
            return all(r["receipt"] == "held" for r in view["requests"])

        status, _ = await client.call("POST", "/api/requests", {**FORM, "case_id": case["id"]})
        assert status == 201
        # delivered (its last activity) before the clock moves
        await wait_until(delivered, what="the first request delivered")
        await client.close()
        clock.advance(timedelta(days=2))
        client = await ApiClient(es).login("investigator")  # the session has lapsed
        status, _ = await client.call("POST", "/api/requests", {**FORM, "case_id": case["id"]})
        assert status == 201
        await wait_until(delivered, what="both requests delivered")
        await client.close()
        assert not any(secret in database_bytes() for secret in secrets)

        # the first request is erased; the case keeps its title for the second
        clock.advance(timedelta(days=1, hours=12))
        assert run_pass(es.node.db, es.config, clock, es.node.vault)["requests_erased"] == 1
        key, sealed, erased_at = await names()
        assert key and sealed and erased_at is None
        # ... and still reads it: the pass rotated the month's key-encryption key, and
        # the case's sealed names were wrapped anew under the fresh one with the rest
        client = await ApiClient(es).login("investigator")
        status, view = await client.call("GET", f"/api/cases/{case['id']}")
        assert status == 200 and view["title"] == CASE["title"], view
        await client.close()
        # the last one goes, and the title and reference with it, in its transaction
        clock.advance(timedelta(days=2))
        assert run_pass(es.node.db, es.config, clock, es.node.vault)["requests_erased"] == 1
        key, sealed, erased_at = await names()
        assert key is None and sealed is None and erased_at is not None
        assert not any(secret in database_bytes() for secret in secrets)
        client = await ApiClient(es).login("investigator")
        status, view = await client.call("GET", f"/api/cases/{case['id']}")
        assert status == 200 and view["title"] is None and view["reference"] is None
        assert view["erased_at"] and view["offences"] == CASE["offences"]
        await client.close()
        entries = await es.node.db.run(
            lambda c: [json.loads(bytes(r[0])) for r in c.execute(
                "SELECT entry FROM audit_entries ORDER BY idx").fetchall()]
        )  # fmt: skip
        erased = [e for e in entries if e["action"] == "case_erased"]
        assert [e["case_id"] for e in erased] == [case["id"]]
        assert verify_data_dir(es.data).ok
    finally:
        await fed.stop()
