"""``/metrics`` in the Prometheus text format (``exchange.service.metrics``).

Access: ``Authorization: Bearer <token>`` when ``[metrics] token_file`` is set
(compared in constant time), otherwise a logged-in admin or auditor.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from ..core import roles
from ..core.errors import Forbidden, Unauthorized
from .appkeys import METRICS_KEY, NODE_KEY, TOKEN_KEY
from .auth import current_user

routes = web.RouteTableDef()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    token = request.app.get(TOKEN_KEY)
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        if not hmac.compare_digest(header[7:].encode(), token.encode()):
            raise Unauthorized("wrong metrics token")
    else:
        user = await current_user(request)
        if user is None:
            raise Unauthorized("log in, or send the metrics bearer token")
        if user.role not in roles.METRICS:
            raise Forbidden(f"the {user.role} role may not read metrics")
    body = await request.app[METRICS_KEY].render(request.app[NODE_KEY])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})
