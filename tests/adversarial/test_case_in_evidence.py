"""A request's evidence bundle carries its case's membership messages with the other
party and the request's consent exchanges (issue 16), each as its sender signed it with
its recipient's receipt, verifiable offline; a member list changed inside the bundle
(a member made "removed") is refused. docs/PROTOCOL.md, "Evidence bundle"."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from exchange.cli import main
from exchange.core.canonical import b64e, canonical_json, loads_canonical

from ..federation import ApiClient, Federation, wait_until
from ..node.test_case_sharing import CASE
from ..node.test_conversation import FORM, incoming, say, until_status


async def _all_receipted(fed: Federation, authority_id: str) -> None:
    """Every message and case message this node sent holds its recipient's receipt."""

    def missing(conn: Any) -> int:
        me = authority_id
        sql = (
            "SELECT (SELECT COUNT(*) FROM messages WHERE sender = ? AND receipt IS NULL)"
            " + (SELECT COUNT(*) FROM case_messages WHERE sender = ? AND receipt IS NULL)"
        )
        return int(conn.execute(sql, (me, me)).fetchone()[0])

    async def done() -> bool:
        return await fed[authority_id].node.db.run(missing) == 0

    await wait_until(done, what=f"every receipt at {authority_id}")


async def _shared_exchange(fed: Federation) -> tuple[str, str, str]:
    """ES invites MA to a case, MA accepts; ES's request in it, MA's answer, MA's
    consent request, ES's refusal. Returns ES's case id, ES's and MA's request ids."""
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        _, case = await es.call("POST", "/api/cases", CASE)
        await es.call("POST", f"/api/cases/{case['id']}/members", {"authority": "MA-CNA"})

        async def copy() -> str | None:
            _, page = await ma.call("GET", "/api/cases?shared=1")
            return page["cases"][0]["id"] if page["cases"] else None

        copy_id = await wait_until(copy, what="the invitation at MA")
        status, _ = await ma.call("POST", f"/api/cases/{copy_id}/accept", {"reference": "MA-9"})
        assert status == 202

        async def member() -> bool:
            _, view = await es.call("GET", f"/api/cases/{case['id']}")
            return {m["authority"]: m["state"] for m in view["members"]}["MA-CNA"] == "member"

        await wait_until(member, what="the acceptance at ES")
        body = {"to": "MA-CNA", **FORM, "case_id": case["id"]}
        _, created = await es.call("POST", "/api/requests", body)
        rid, at_ma = created["id"], await incoming(ma, created["msg_id"])
        await say(ma, at_ma, type="response", body="Larache.")
        await say(ma, at_ma, type="consent_request", purpose="disclosure", body="To Interpol?")
        await until_status(es, rid, "answered")

        async def asked() -> str | None:
            _, got = await es.call("GET", f"/api/requests/{rid}")
            found = [m["msg_id"] for m in got["messages"] if m["type"] == "consent_request"]
            return found[0] if found else None

        about = await wait_until(asked, what="the consent request at ES")
        await say(es, rid, type="consent", about=about, granted=False)
        await _all_receipted(fed, "ES-CNA")
        await _all_receipted(fed, "MA-CNA")
        return case["id"], rid, at_ma
    finally:
        await es.close()
        await ma.close()


async def test_the_bundle_proves_the_membership_and_the_consents(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    await fed.start()
    try:
        case_id, rid, at_ma = await _shared_exchange(fed)
    finally:
        await fed.stop()
    named = f"case ES-CNA/{case_id}"
    for authority, request_id in (("ES-CNA", rid), ("MA-CNA", at_ma)):
        bundle = tmp_path / f"{authority}.bundle"
        data = str(fed[authority].data)
        assert main(["evidence", "export", request_id, "--data", data, "--out", str(bundle)]) == 0
        capsys.readouterr()
        assert main(["evidence", "verify", str(bundle), "--json"]) == 0
        lines = json.loads(capsys.readouterr().out)["lines"]
        text = "\n".join(lines)
        assert f"ES-CNA invited MA-CNA to {named}." in text, authority
        assert f"MA-CNA accepted the invitation to {named}." in text
        assert (
            f"ES-CNA states the members of {named} (list 2): ES-CNA member, MA-CNA member." in text
        )
        assert "CONSENT asked by MA-CNA of ES-CNA, for passing on." in text
        assert "CONSENT REFUSED by ES-CNA, answering " in text
        # each case message is receipted by its recipient in the bundle
        invited = next(i for i, line in enumerate(lines) if "invited MA-CNA" in line)
        assert lines[invited + 1].startswith("  MA-CNA acknowledged receiving exactly this")

    # a member list changed inside the bundle: its sender's signature no longer holds
    doc = loads_canonical((tmp_path / "ES-CNA.bundle").read_bytes())
    for message in doc["messages"]:  # type: ignore[union-attr]
        evidence = json.loads(base64.b64decode(message["evidence"]))
        if evidence["header"]["type"] == "case_membership":
            evidence["content"]["members"][1]["state"] = "removed"
            message["evidence"] = b64e(canonical_json(evidence))
    changed = tmp_path / "changed.bundle"
    changed.write_bytes(canonical_json(doc))
    capsys.readouterr()
    assert main(["evidence", "verify", str(changed)]) == 2
    assert capsys.readouterr().out.startswith("NOT VERIFIED (bad_signature)")
