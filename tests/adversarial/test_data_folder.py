"""Another local user on the node's machine reads nothing in its data folder: the
folder and everything in it are owner-only (folders 0700, files 0600) whatever the
umask, from ``exchange init`` through a node that has run, written its WAL, received
blobs and signed checkpoints; and a node refuses to start on a folder that has come
open since (naming the fix), before it reads or opens anything in it."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from exchange.node.runner import start_node
from exchange.ops.data_folder import DataFolderOpen
from exchange.store.db import Database

from ..federation import ApiClient, Federation, wait_until
from ..postgres import on_postgresql
from ..storage import sqlite_only, stored_bytes

PERMISSIVE = (0o022, 0o002)
REQUEST = {"to": "MA-CNA", "kind": "information_request", "urgency": "urgent",
           "subject": "Passport", "body": "See the scan.", "language": "en"}  # fmt: skip


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def modes(data: Path) -> dict[str, int]:
    """Every path under ``data`` (itself as ".") with its permission bits."""
    found = {".": stat.S_IMODE(data.stat().st_mode)}
    for root, dirs, files in os.walk(data):
        for name in [*dirs, *files]:
            path = Path(root) / name
            found[str(path.relative_to(data))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def assert_owner_only(data: Path) -> None:
    wrong = {
        name: f"{mode:04o}"
        for name, mode in modes(data).items()
        if mode != (0o700 if (data / name).is_dir() else 0o600)
    }
    assert not wrong, wrong


@pytest.mark.parametrize("mask", PERMISSIVE, ids=["umask022", "umask002"])
async def test_a_node_that_ran_leaves_nothing_for_other_users(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        fed = Federation.create(tmp_path, ["ES-CNA", "MA-CNA"])
        for member in fed.members.values():
            assert_owner_only(member.data)  # straight after init
        await fed.start()
        investigator = await ApiClient(fed["ES-CNA"]).login("investigator")
        liaison = await ApiClient(fed["MA-CNA"]).login("liaison")
        try:
            form = aiohttp.FormData()
            form.add_field("file", b"scan" * 1000, filename="a.pdf", content_type="application/pdf")
            async with investigator.session.post(
                investigator.member.url + "/api/attachments",
                data=form,
                headers={"X-CSRF-Token": investigator.csrf},
                ssl=investigator.ssl,
            ) as response:
                assert response.status == 201
                uploaded = await response.json()
            status, created = await investigator.call(
                "POST", "/api/requests", {**REQUEST, "attachments": [uploaded["id"]]}
            )
            assert status == 201, created

            async def arrived() -> bool:
                _, inbox = await liaison.call("GET", "/api/inbox")
                return bool(inbox["requests"])

            await wait_until(arrived, what="the request with its blob at MA")
            for member in fed.members.values():
                await member.checkpoint()
                names = set(modes(member.data))
                files = set() if on_postgresql() else {"exchange.db-wal", "exchange.db-shm"}
                assert {*files, "blobs"} <= names, names
                assert [n for n in names if n.startswith("blobs/")], names
                assert_owner_only(member.data)  # while running: WAL, SHM, blobs
        finally:
            await investigator.close()
            await liaison.close()
            await fed.stop()
        for member in fed.members.values():
            assert_owner_only(member.data)


@pytest.mark.parametrize("mask", PERMISSIVE, ids=["umask022", "umask002"])
def test_the_database_layer_creates_its_files_owner_only(tmp_path: Path, mask: int) -> None:
    with umask(mask):
        db = Database(tmp_path / "exchange.db")
        try:
            db.run_sync(lambda c: c.execute("CREATE TABLE t (x)"))
            files = {p.name: stat.S_IMODE(p.stat().st_mode) for p in tmp_path.iterdir()}
        finally:
            db.close()
    assert {"exchange.db", "exchange.db-wal", "exchange.db-shm"} <= set(files), files
    assert set(files.values()) == {0o600}, files


@pytest.mark.parametrize(
    ("opened", "mode"),
    [
        (".", 0o755),
        pytest.param(
            "exchange.db",
            0o644,
            marks=sqlite_only("its file's mode (PostgreSQL keeps no file here)"),
        ),
        ("keys", 0o750),
        ("node.toml", 0o606),
    ],
)
async def test_a_node_refuses_an_open_folder_and_names_the_fix(
    tmp_path: Path, opened: str, mode: int
) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"])
    member = fed["ES-CNA"]
    (member.data / opened).chmod(mode)
    before = stored_bytes(member.data)
    with pytest.raises(DataFolderOpen) as caught:
        await start_node(member.config)
    assert caught.value.code == "data_folder_open"
    message = caught.value.message
    assert f"chmod -R go-rwx {member.data.resolve()}" in message
    assert f"{(member.data / opened).resolve()} is {mode:04o}" in message
    # refused before anything was opened: nothing stored changed
    assert stored_bytes(member.data) == before
    assert not (member.data / "exchange.db-wal").exists()
    # the operator's fix is enough
    for path in [member.data, *member.data.rglob("*")]:  # chmod -R go-rwx
        path.chmod(stat.S_IMODE(path.stat().st_mode) & 0o700)
    await fed.start()
    await fed.stop()


def test_exchange_node_prints_the_refusal_and_exits_non_zero(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], users=False)
    data = fed["ES-CNA"].data
    data.chmod(0o755)
    result = subprocess.run(
        [sys.executable, "-m", "exchange", "node", "--data", str(data)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result
    assert "data_folder_open" in result.stderr
    assert f"chmod -R go-rwx {data.resolve()}" in result.stderr
