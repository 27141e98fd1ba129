"""A third party can check who sent what to whom and when, with no node: ES-CNA asks
MA-CNA, MA-CNA acknowledges and answers; the request's evidence bundle exported from
either node's data folder (``exchange evidence export``) is accepted by ``exchange
evidence verify``, which names senders, recipients, times and acknowledgements, and it
is refused after a single-byte change (a signature, a time, the content, a directory)."""

from __future__ import annotations

import base64
import contextlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from exchange.cli import main
from exchange.core.canonical import loads_canonical

from ..federation import ApiClient, Federation, wait_until
from ..storage import raw_connection

REQUEST = {"to": "MA-CNA", "kind": "information_request", "urgency": "standard",
           "subject": "Boat", "body": "Who owns the boat?", "language": "en"}  # fmt: skip
ANSWER = "The owner is registered in Larache."


def exchange(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "exchange", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _request_answered(fed: Federation) -> tuple[str, str, str, str]:
    """ES's request id, MA's, the request's and the response's msg_ids, once every
    message of both sides holds its receipt."""
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
        status, body = await ma.call("POST", f"/api/requests/{ma_id}/acknowledge")
        assert status == 200, body
        status, body = await ma.call("POST", f"/api/requests/{ma_id}/responses", {"body": ANSWER})
        assert status == 200, body

        async def receipted(client: ApiClient, request_id: str, count: int) -> bool:
            _, view = await client.call("GET", f"/api/requests/{request_id}")
            messages = view["messages"]
            return len(messages) == count and all(m["receipt"] for m in messages)

        await wait_until(lambda: receipted(es, created["id"], 3), what="receipts at ES")
        await wait_until(lambda: receipted(ma, ma_id, 3), what="receipts at MA")
        _, view = await ma.call("GET", f"/api/requests/{ma_id}")
        response = next(m["msg_id"] for m in view["messages"] if m["type"] == "response")
        return created["id"], ma_id, created["msg_id"], response
    finally:
        await es.close()
        await ma.close()


async def test_a_bundle_from_either_end_says_who_sent_what_and_refuses_any_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
    es_file, ma_file = tmp_path / "es.bundle", tmp_path / "ma.bundle"
    await fed.start()
    try:
        es_id, ma_id, request_msg, response_msg = await _request_answered(fed)
        # from a running node's folder (read-only), as from a stopped one's below
        assert main(["evidence", "export", ma_id, "--data", str(fed["MA-CNA"].data),
                     "--out", str(ma_file)]) == 0  # fmt: skip
    finally:
        await fed.stop()

    done = exchange("evidence", "export", es_id, "--data", str(fed["ES-CNA"].data),
                    "--out", str(es_file))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert es_file.stat().st_mode & 0o777 == 0o600

    for bundle in (es_file, ma_file):
        done = exchange("evidence", "verify", str(bundle))  # no node, no network, no data
        assert done.returncode == 0, done.stdout + done.stderr
        text = done.stdout
        assert f"ES-CNA sent request {request_msg} to MA-CNA, signed at 20" in text
        assert f"MA-CNA sent response {response_msg} to ES-CNA, signed at 20" in text
        assert "MA-CNA sent acknowledgement" in text
        assert text.count("MA-CNA acknowledged receiving exactly this document at 20") == 1
        assert text.count("ES-CNA acknowledged receiving exactly this document at 20") == 2
        assert "No acknowledgement" not in text and "OK:" in text

    capsys.readouterr()
    assert main(["evidence", "verify", str(es_file), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    # the directories, two lines per message, and first the conditions of use signed
    # by the request and by the response (issue 16)
    assert report["ok"] is True and len(report["lines"]) == 2 + 1 + 3 * 2
    assert all(line.startswith("CONDITIONS OF USE") for line in report["lines"][:2])

    # An existing file is never replaced.
    before = es_file.read_bytes()
    done = exchange("evidence", "export", es_id, "--data", str(fed["ES-CNA"].data),
                    "--out", str(es_file))  # fmt: skip
    assert done.returncode == 2 and "error:" in done.stderr
    assert es_file.read_bytes() == before

    # A message with no evidence document (sent before migration 9): refused, said so.
    with contextlib.closing(raw_connection(fed["ES-CNA"].data)) as conn, conn:
        conn.execute("UPDATE messages SET evidence_key = NULL, evidence_doc = NULL"
                     " WHERE msg_id = ?", (request_msg,))  # fmt: skip
    done = exchange("evidence", "export", es_id, "--data", str(fed["ES-CNA"].data),
                    "--out", str(tmp_path / "old.bundle"))  # fmt: skip
    assert (
        done.returncode == 2 and f"message {request_msg} (request) has no evidence" in done.stderr
    )
    assert not (tmp_path / "old.bundle").exists()

    for name, position in _positions(before).items():
        changed = bytearray(before)
        changed[position] = _other(changed[position])
        path = tmp_path / f"changed-{name}.bundle"
        path.write_bytes(bytes(changed))
        capsys.readouterr()
        assert main(["evidence", "verify", str(path)]) == 2, name
        assert capsys.readouterr().out.startswith("NOT VERIFIED"), name


def _positions(bundle: bytes) -> dict[str, int]:
    """One byte in: the first receipt's signature, its received_at (a second), the request's
    content (inside the base64 evidence document), the first directory."""
    receipt = bundle.index(b'"receipt":{')
    signature = bundle.index(b'"signature":"', receipt) + len(b'"signature":"') + 10
    received = bundle.index(b'"received_at":"', receipt) + len(b'"received_at":"') + 18
    evidence = loads_canonical(bundle)["messages"][0]["evidence"]
    assert isinstance(evidence, str)
    start = bundle.index(evidence.encode())
    body = base64.b64decode(evidence).index(b"Who owns the boat")
    content = start + (body * 4) // 3 + 4
    directory = bundle.index(b'"directories":["') + len(b'"directories":["') + 200
    return {"signature": signature, "time": received, "content": content, "directory": directory}


def _other(byte: int) -> int:
    """Another character of the same kind (a digit for a digit, base64 for base64)."""
    if chr(byte).isdigit():
        return ord("0") + (byte - ord("0") + 1) % 10
    return ord("B") if byte != ord("B") else ord("C")


def test_exporting_an_unknown_request_is_a_clear_error(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], users=False)
    out = tmp_path / "none.bundle"
    done = exchange("evidence", "export", "req-unknown", "--data", str(fed["ES-CNA"].data),
                    "--out", str(out))  # fmt: skip
    assert done.returncode == 2
    assert "not_found: no request 'req-unknown' at this node" in done.stderr
    assert not out.exists()


def test_a_file_that_is_no_bundle_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not.bundle"
    path.write_bytes(b'{"format":"something else"}')
    done = exchange("evidence", "verify", str(path), "--json")
    assert done.returncode == 2
    assert json.loads(done.stdout)["ok"] is False
