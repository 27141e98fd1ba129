"""Conditions of use and references in the evidence bundle (issue 16): the bundle
carries them inside each sender's signed evidence document, ``exchange evidence
verify`` prints them first, and a bundle whose handling code was changed is refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from exchange.cli import main
from exchange.core.canonical import b64e, canonical_json, loads_canonical

from ..federation import ApiClient, Federation, wait_until

H3 = {"code": "H3", "text": "Only for the Almería investigating court.", "use_limitation": True,
      "confidential": True}  # fmt: skip
H1 = {"code": "H1", "use_limitation": False, "confidential": True}
REQUEST = {"to": "MA-CNA", "kind": "information_request", "urgency": "standard",
           "subject": "Boat", "body": "Who owns the boat?", "language": "en",
           "reference": "ES-ALM-0417", "handling": H3,
           "evaluation": {"source": "B", "information": 2}}  # fmt: skip


async def _exchanged(fed: Federation) -> str:
    """ES's request, acknowledged by MA with its reference and answered under H1, once
    every message at ES holds its receipt."""
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        status, created = await es.call("POST", "/api/requests", REQUEST)
        assert status == 201, created

        async def incoming() -> str | None:
            _, body = await ma.call("GET", "/api/inbox")
            ids = [r["id"] for r in body["requests"] if r["msg_id"] == created["msg_id"]]
            return ids[0] if ids else None

        ma_id = await wait_until(incoming, what="the request at MA")
        path = f"/api/requests/{ma_id}"
        status, body = await ma.call("POST", path + "/acknowledge", {"reference": "MA-NDR-88"})
        assert status == 200, body
        status, body = await ma.call(
            "POST", path + "/responses", {"body": "Larache.", "handling": H1}
        )
        assert status == 200, body

        async def receipted() -> bool:
            _, view = await es.call("GET", f"/api/requests/{created['id']}")
            return len(view["messages"]) == 3 and all(m["receipt"] for m in view["messages"])

        await wait_until(receipted, what="receipts at ES")
        return str(created["id"])
    finally:
        await es.close()
        await ma.close()


async def test_the_bundle_shows_and_proves_the_conditions_of_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    bundle = tmp_path / "es.bundle"
    await fed.start()
    try:
        request_id = await _exchanged(fed)
    finally:
        await fed.stop()
    assert main(["evidence", "export", request_id, "--data", str(fed["ES-CNA"].data),
                 "--out", str(bundle)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["evidence", "verify", str(bundle), "--json"]) == 0
    lines = json.loads(capsys.readouterr().out)["lines"]
    first, second, third, fourth = lines[:4]
    assert first.startswith("CONDITIONS OF USE signed by ES-CNA on its request ")
    assert "H3: other restrictions" in first and "Only for the Almería" in first
    assert "UNTOC art. 18(19)" in first and "UNTOC art. 18(20)" in first
    assert "evaluation: source B, information 2" in first
    assert second == "Reference of ES-CNA (request): 'ES-ALM-0417'."
    assert third == "Reference of MA-CNA (acknowledgement): 'MA-NDR-88'."
    assert fourth.startswith("CONDITIONS OF USE signed by MA-CNA on its response ")
    assert "H1: not to be used as evidence" in fourth and "18(19)" not in fourth

    # the handling code changed inside the bundle: the sender's signature no longer holds
    doc = loads_canonical(bundle.read_bytes())
    evidence = json.loads(base64.b64decode(doc["messages"][0]["evidence"]))  # type: ignore[index]
    evidence["content"]["handling"] = {"code": "H0", "use_limitation": False,
                                       "confidential": False}  # fmt: skip
    doc["messages"][0]["evidence"] = b64e(canonical_json(evidence))  # type: ignore[index]
    changed = tmp_path / "changed.bundle"
    changed.write_bytes(canonical_json(doc))
    capsys.readouterr()
    assert main(["evidence", "verify", str(changed)]) == 2
    assert capsys.readouterr().out.startswith("NOT VERIFIED (bad_signature)")
