"""Every command and every HTTP route is documented (as datasette's test_docs does)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from exchange.cli import build_parser
from exchange.node.app import create_app

from .federation import Federation

ROOT = Path(__file__).resolve().parent.parent
DOCS = "\n".join(p.read_text() for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _commands(parser: argparse.ArgumentParser, prefix: str = "") -> list[str]:
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                command = f"{prefix} {name}".strip()
                found.append(command)
                found.extend(_commands(sub, command))
    return found


@pytest.mark.parametrize("command", _commands(build_parser()))
def test_every_command_is_documented(command: str) -> None:
    assert f"exchange {command}" in DOCS or f"`{command}" in DOCS, f"document `exchange {command}`"


def test_every_route_is_documented(tmp_path: Path) -> None:
    fed = Federation.create(tmp_path, ["ES-CNA"], users=False)
    app = create_app(fed["ES-CNA"].config, background=False)
    paths = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    missing = sorted(p for p in paths if p not in DOCS and not p.startswith("/static"))
    assert not missing, f"undocumented routes: {missing}"


def test_every_api_route_is_in_openapi(tmp_path: Path) -> None:
    from exchange.web.api.openapi import OPENAPI

    fed = Federation.create(tmp_path, ["ES-CNA"], users=False)
    app = create_app(fed["ES-CNA"].config, background=False)
    paths = {
        r.resource.canonical
        for r in app.router.routes()
        if r.resource is not None and r.resource.canonical.startswith("/api/")
    }
    missing = sorted(paths - set(OPENAPI["paths"]))
    assert not missing, f"routes missing from /api/openapi.json: {missing}"
