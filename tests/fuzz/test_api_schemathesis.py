"""schemathesis against the local JSON API of a real node (a separate process),
driven by the node's own /api/openapi.json: whatever the generated input, never a
5xx, always the documented error shape, and nothing stored from a refused call."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from exchange.web.api.openapi import OPENAPI

from ..federation import PASSWORD, Federation
from ..storage import rows

# The test node's certificate is self-signed (nodes pin it; this client does not).
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
# Logging out would end the session the other calls use; it is covered elsewhere.
SKIPPED = {("POST", "/api/logout")}
schema = schemathesis.openapi.from_dict(OPENAPI)


class Node:
    def __init__(self, root: Path) -> None:
        fed = Federation.create(root, ["ES-CNA", "MA-CNA"])
        self.member = fed["ES-CNA"]
        log = (root / "node.log").open("ab")
        command = [sys.executable, "-m", "exchange", "node", "--data", str(self.member.data)]
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            self._connect()
        except BaseException:
            self.stop()  # never leave a node process behind
            raise

    def _connect(self) -> None:
        self.session = requests.Session()
        self.session.verify = False
        self.session.trust_env = False  # loopback: never through a proxy from the environment
        deadline = time.monotonic() + 30
        while True:  # bounded wait for the process to listen
            try:
                if self.session.get(self.member.url + "/v1/health", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "node did not start"
            time.sleep(0.05)  # the pace of the polling, not a synchronisation
        answer = self.session.post(
            self.member.url + "/api/login",
            json={"username": "investigator", "password": PASSWORD},
            timeout=10,
        )
        self.csrf = answer.json()["csrf_token"]

    def rows(self) -> int:
        return int(rows(self.member.data, "SELECT COUNT(*) FROM requests")[0][0])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    started = Node(tmp_path_factory.mktemp("schemathesis"))
    yield started
    started.stop()


@schema.parametrize()
@settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_local_api(case: Any, node: Node) -> None:
    if (case.method.upper(), case.path) in SKIPPED:
        return
    before = node.rows()
    response = case.call(
        base_url=node.member.url,
        session=node.session,
        headers={"X-CSRF-Token": node.csrf},
        timeout=30,
        verify=False,  # the test node's self-signed certificate
    )
    assert response.status_code < 500, (case.method, case.path, response.text[:300])
    if response.status_code >= 400 and "json" in response.headers.get("Content-Type", ""):
        error = json.loads(response.text)["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)
    if response.status_code >= 400 or case.method.upper() != "POST":
        assert node.rows() == before, "a refused call stored something"
