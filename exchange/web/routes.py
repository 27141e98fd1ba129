"""Every route of the node's web face: the peer API, the local JSON API, the UI."""

from __future__ import annotations

from aiohttp import web

from . import metrics
from .api import audit as audit_api
from .api import cases as cases_api
from .api import deadlines as deadlines_api
from .api import evidence as evidence_api
from .api import messages as messages_api
from .api import requests as requests_api
from .api import stats as stats_api
from .peer import audit as peer_audit
from .peer import blobs as peer_blobs
from .peer import envelopes as peer_envelopes
from .peer import revocations as peer_revocations
from .peer import witness as peer_witness
from .peer import witness_alerts as peer_witness_alerts
from .ui import routes as ui_routes


def register(app: web.Application) -> None:
    for module in (
        peer_envelopes,
        peer_audit,
        peer_blobs,
        peer_revocations,
        peer_witness,
        peer_witness_alerts,
        requests_api,
        cases_api,
        messages_api,
        audit_api,
        deadlines_api,
        stats_api,
        evidence_api,
        metrics,
    ):
        app.add_routes(module.routes)
    ui_routes.register(app)
