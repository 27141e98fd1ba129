"""Register the UI's pages and static files on the node's app."""

from __future__ import annotations

from aiohttp import web

from . import cases, conversation, oversight, pages, search, session, tracking
from .render import HERE


def register(app: web.Application) -> None:
    for module in (session, pages, cases, tracking, oversight, conversation, search):
        app.add_routes(module.routes)
    app.router.add_static("/static", HERE / "static", append_version=False)
