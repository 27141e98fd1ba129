"""Issue 16, items 3 and 4: references, conditions of use (handling codes) and
evaluation travel inside the sender's signed content, between real nodes.

An attacker who alters a message's handling on the way (a peer relaying it, a stolen
outer key) breaks a signature and is refused; a request without handling gets the
strict default; malformed conditions are refused naming the field, with nothing
stored; references are never written in plaintext at rest."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from exchange.core.canonical import b64e, canonical_json
from exchange.core.envelope import seal
from exchange.core.keys import seal_to

from ..federation import ApiClient, Federation, peer_post, wait_until
from ..node.test_peer_rejections import CONTENT, envelope, snapshot
from ..storage import stored_bytes

SENDER_REF = "UCRIF-ALM-2026/0417"
RECIPIENT_REF = "DGSN-NADOR-88/26"
H2 = {"code": "H2", "use_limitation": True, "confidential": True}
FORM = {
    "to": "MA-CNA",
    "kind": "information_request",
    "urgency": "urgent",
    "subject": "Boat departure Nador",
    "body": "Who owns the vessel?",
    "language": "en",
}


@pytest.fixture
async def fed(tmp_path: Path) -> AsyncIterator[Federation]:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA", "SN-CNA"])
    await fed.start()
    yield fed
    await fed.stop()


async def _get(client: ApiClient, request_id: str) -> Any:
    status, body = await client.call("GET", f"/api/requests/{request_id}")
    assert status == 200, body
    return body


async def _inbox_row(client: ApiClient, msg_id: str) -> Any:
    status, body = await client.call("GET", "/api/inbox")
    assert status == 200, body
    return next((r for r in body["requests"] if r["msg_id"] == msg_id), None)


async def test_references_handling_and_evaluation_travel_signed_end_to_end(
    fed: Federation,
) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        evaluation = {"source": "B", "information": 2}
        handling = {**H2, "confidential": False}
        status, created = await es.call(
            "POST",
            "/api/requests",
            FORM | {"reference": SENDER_REF, "handling": handling, "evaluation": evaluation},
        )
        assert status == 201, created
        row = await wait_until(lambda: _inbox_row(ma, created["msg_id"]), what="in MA's inbox")
        # the inbox shows the sender's reference and the handling code
        assert row["sender_reference"] == SENDER_REF and row["handling"] == handling
        assert row["recipient_reference"] is None and row["evaluation"] == evaluation
        detail = await _get(ma, row["id"])
        assert detail["messages"][0]["content"]["handling"] == handling
        assert (detail["sender_reference"], detail["handling"]) == (SENDER_REF, handling)

        status, body = await ma.call(
            "POST", f"/api/requests/{row['id']}/acknowledge", {"reference": RECIPIENT_REF}
        )
        assert (status, body["status"]) == (200, "acknowledged")
        assert (await _get(ma, row["id"]))["recipient_reference"] == RECIPIENT_REF

        async def both_references() -> bool:
            shown = await _get(es, created["id"])
            return bool(shown["recipient_reference"] == RECIPIENT_REF)

        await wait_until(both_references, what="MA's reference at ES")
        status, listed = await es.call("GET", "/api/requests")
        mine = next(r for r in listed["requests"] if r["id"] == created["id"])
        assert (mine["sender_reference"], mine["recipient_reference"]) == (
            SENDER_REF,
            RECIPIENT_REF,
        )

        # a response without handling keeps the request's; one with its own carries it
        status, body = await ma.call(
            "POST", f"/api/requests/{row['id']}/responses", {"body": "Registered in Larache."}
        )
        assert status == 200, body

        async def answered() -> Any:
            shown = await _get(es, created["id"])
            return [m for m in shown["messages"] if m["type"] == "response"]

        responses = await wait_until(answered, what="the response at ES")
        assert responses[0]["content"]["handling"] == handling
    finally:
        await es.close()
        await ma.close()


async def test_a_request_without_handling_gets_the_strict_default(fed: Federation) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        status, created = await es.call("POST", "/api/requests", FORM)
        assert status == 201, created
        shown = await _get(es, created["id"])
        assert shown["handling"] == H2 and shown["sender_reference"] is None
        assert shown["messages"][0]["content"]["handling"] == H2
        assert "reference" not in shown["messages"][0]["content"]
    finally:
        await es.close()


BAD: list[tuple[dict[str, Any], str]] = [
    ({"handling": H2 | {"code": "H5"}}, "handling.code"),
    ({"handling": H2 | {"code": "H3"}}, "handling.text"),
    ({"handling": H2 | {"use_limitation": "yes"}}, "handling.use_limitation"),
    ({"handling": H2 | {"code": "H1", "text": "x"}}, "handling.text"),
    ({"handling": "H2"}, "handling"),
    ({"handling": None}, "handling"),
    ({"evaluation": {"source": "F", "information": 1}}, "evaluation.source"),
    ({"evaluation": {"source": "A", "information": 9}}, "evaluation.information"),
    ({"evaluation": {"source": "A"}}, "evaluation"),
    ({"reference": "R" * 101}, "reference"),
    ({"reference": "ES\n2026"}, "reference"),
    ({"reference": "\u202eES-2026"}, "reference"),
    ({"reference": 7}, "reference"),
]  # fmt: skip


async def test_malformed_conditions_are_refused_naming_the_field(fed: Federation) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        before = await snapshot(fed, "ES-CNA")
        for extra, field in BAD:
            for path in ("/api/requests", "/api/drafts"):
                status, body = await es.call("POST", path, FORM | extra)
                assert (status, body["error"]["code"]) == (400, "malformed"), (extra, body)
                assert field in body["error"]["message"], (extra, body)
        assert await snapshot(fed, "ES-CNA") == before

        status, created = await es.call("POST", "/api/requests", FORM)
        row = await wait_until(lambda: _inbox_row(ma, created["msg_id"]), what="in MA's inbox")
        before = await snapshot(fed, "MA-CNA")
        path = f"/api/requests/{row['id']}"
        for suffix, body_, field in [
            ("/acknowledge", {"reference": ""}, "reference"),
            ("/acknowledge", {"reference": "a\x00b"}, "reference"),
            ("/acknowledge", {"handling": H2}, "unknown field"),
            ("/responses", {"body": "b", "handling": {"code": "H9"}}, "handling.code"),
            ("/responses", {"body": "b", "evaluation": {"source": "A"}}, "evaluation"),
            ("/responses", {"body": "b", "reference": "x"}, "unknown field"),
        ]:  # fmt: skip
            status, body = await ma.call("POST", path + suffix, body_)
            assert (status, body["error"]["code"]) == (400, "malformed"), (body_, body)
            assert field in body["error"]["message"], (body_, body)
        assert await snapshot(fed, "MA-CNA") == before
        assert (await _get(ma, row["id"]))["status"] == "received"

        # a response that names its own conditions carries them, signed, to ES
        h0 = {"code": "H0", "use_limitation": False, "confidential": False}
        answer = {"body": "Registered in Larache.", "handling": h0}
        answer["evaluation"] = {"source": "A", "information": 1}
        status, body = await ma.call("POST", path + "/responses", answer)
        assert status == 200, body

        async def answered() -> Any:
            shown = await _get(es, created["id"])
            return [m["content"] for m in shown["messages"] if m["type"] == "response"]

        (content,) = await wait_until(answered, what="the response at ES")
        assert (content["handling"], content["evaluation"]) == (h0, answer["evaluation"])
    finally:
        await es.close()
        await ma.close()


def _tampered(fed: Federation, *, outer_key: Any, key_id: str | None = None) -> bytes:
    """ES's genuine request, its handling changed from H2 to H0 on the way: the inner
    document re-encrypted to MA with ES's evidence signature kept, the outer signature
    made with ``outer_key`` (the attacker's own, or ES's stolen one)."""
    genuine = envelope(fed, msg_id="msg-tamper-0001")
    now = fed.clock.now()
    es = fed["ES-CNA"].node
    sealed = seal(
        CONTENT,
        log_size=7,
        msg_type="request",
        msg_id="msg-tamper-0001",
        sender_id="ES-CNA",
        sender_key=es.keys.current_signing(now),
        recipient=es.directory.require().get("MA-CNA"),  # type: ignore[arg-type]
        now=now,
    )
    inner = json.loads(sealed.evidence_json)
    assert inner["content"]["handling"]["code"] == "H2"
    inner["content"]["handling"] = {"code": "H0", "use_limitation": False, "confidential": False}
    outer = json.loads(genuine)
    outer["header"] = inner["header"]
    if key_id is not None:
        outer["header"]["sender_key_id"] = key_id
        inner["header"]["sender_key_id"] = key_id
    ma_key = fed["MA-CNA"].node.directory.require().get("MA-CNA").current_encryption_key(now)  # type: ignore[union-attr]
    ciphertext = seal_to(ma_key.public, canonical_json(inner))  # type: ignore[union-attr]
    outer["ciphertext"] = b64e(ciphertext)
    from exchange.core.envelope import _outer_signing_input  # the attacker's own code

    outer["signature"] = b64e(outer_key.sign(_outer_signing_input(outer["header"], ciphertext)))
    return canonical_json(outer)


async def test_a_handling_code_altered_in_transit_breaks_a_signature(fed: Federation) -> None:
    now = fed.clock.now()
    before = await snapshot(fed, "MA-CNA")
    es_key = fed["ES-CNA"].node.keys.current_signing(now)
    sn_key = fed["SN-CNA"].node.keys.current_signing(now)
    cases = [
        # a relay (SN) re-signs the outer layer with its own key, naming ES's key
        ("own key", _tampered(fed, outer_key=sn_key), "ES-CNA", "bad_signature", 403),
        # ... or naming its own key while it claims to be ES
        (
            "own key named",
            _tampered(fed, outer_key=sn_key, key_id=sn_key.public.key_id),
            "SN-CNA",
            "unknown_sender",
            403,
        ),
        # ES's outer key stolen: the evidence signature inside still covers the content
        ("stolen outer key", _tampered(fed, outer_key=es_key), "ES-CNA", "bad_signature", 403),
    ]
    for name, data, caller, code, status in cases:
        got_status, got = await peer_post(
            fed, "ES-CNA", "MA-CNA", "/v1/envelopes", data, sign_as=caller
        )
        assert (got_status, got["error"]["code"]) == (status, code), name
    assert await snapshot(fed, "MA-CNA") == before


async def test_references_are_encrypted_at_rest(fed: Federation) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    ma = await ApiClient(fed["MA-CNA"]).login("liaison")
    try:
        status, created = await es.call("POST", "/api/requests", FORM | {"reference": SENDER_REF})
        assert status == 201, created
        row = await wait_until(lambda: _inbox_row(ma, created["msg_id"]), what="in MA's inbox")
        status, _ = await ma.call(
            "POST", f"/api/requests/{row['id']}/acknowledge", {"reference": RECIPIENT_REF}
        )
        assert status == 200

        async def both() -> bool:
            return bool((await _get(es, created["id"]))["recipient_reference"] == RECIPIENT_REF)

        await wait_until(both, what="MA's reference at ES")
    finally:
        await es.close()
        await ma.close()
    for member in (fed["ES-CNA"], fed["MA-CNA"]):
        data = stored_bytes(member.data)
        for secret in (SENDER_REF, RECIPIENT_REF):
            assert secret.encode() not in data, f"{secret} in {member.authority_id}'s storage"


async def test_a_draft_keeps_its_conditions_until_it_is_sent(fed: Federation) -> None:
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        h3 = {"code": "H3", "text": "Not to Frontex.", "use_limitation": False,
              "confidential": True}  # fmt: skip
        conditions = {"reference": SENDER_REF, "handling": h3,
                      "evaluation": {"source": "X", "information": 4}}  # fmt: skip
        status, saved = await es.call("POST", "/api/drafts", FORM | conditions)
        assert status == 201, saved
        draft = (await _get(es, saved["id"]))["draft"]
        assert {k: draft[k] for k in conditions} == conditions
        status, page = await es.call("GET", f"/requests/{saved['id']}")
        assert status == 200 and b'id="draft-conditions"' in page and b"Not to Frontex." in page
        status, sent = await es.call("POST", f"/api/requests/{saved['id']}/send")
        assert status == 200, sent
        shown = await _get(es, saved["id"])
        assert {k: shown["messages"][0]["content"][k] for k in conditions} == conditions
        assert (shown["sender_reference"], shown["handling"]) == (SENDER_REF, h3)
    finally:
        await es.close()


async def test_a_peer_cannot_send_a_request_without_valid_conditions(fed: Federation) -> None:
    before = await snapshot(fed, "MA-CNA")
    bare = {k: v for k, v in CONTENT.items() if k != "handling"}
    for i, (content, names) in enumerate(
        [
            (bare, "handling is missing"),
            (CONTENT | {"handling": H2 | {"code": "H9"}}, "handling.code"),
            (CONTENT | {"reference": "a\u0000b"}, "reference"),
            (CONTENT | {"evaluation": {"source": "A", "information": True}}, "evaluation"),
        ]
    ):
        data = envelope(fed, msg_id=f"msg-bad-cond-{i:04d}", content=content)
        status, body = await peer_post(fed, "ES-CNA", "MA-CNA", "/v1/envelopes", data)
        assert (status, body["error"]["code"]) == (400, "malformed"), names
        assert names in body["error"]["message"], body
    assert await snapshot(fed, "MA-CNA") == before


async def test_a_list_still_shows_a_request_whose_contents_cannot_be_read(
    fed: Federation,
) -> None:
    """Lists read the references from the encrypted contents; one that no longer opens
    (its month's key destroyed, a backup restored) leaves the row without them, and
    the rest of the list as it was."""
    es = await ApiClient(fed["ES-CNA"]).login("investigator")
    try:
        ids = []
        for reference in ("ES-LOST-1", "ES-KEPT-2"):
            status, created = await es.call(
                "POST", "/api/requests", FORM | {"reference": reference}
            )
            assert status == 201, created
            ids.append(created["id"])
        lost = ids[0]
        await fed["ES-CNA"].node.db.run(
            lambda c: c.execute(
                "UPDATE messages SET content = ? WHERE request_id = ?", (bytes(64), lost)
            )
        )
        status, listed = await es.call("GET", "/api/requests")
        assert status == 200, listed
        shown = {r["id"]: r for r in listed["requests"]}
        assert (shown[lost]["sender_reference"], shown[lost]["handling"]) == (None, None)
        assert shown[ids[1]]["sender_reference"] == "ES-KEPT-2"
    finally:
        await es.close()
