"""Every key of the node's aiohttp application and of its requests, in one place."""

from __future__ import annotations

import aiohttp
from aiohttp import web

from ..core.peer_auth import NonceCache
from ..core.rate_limit import ConnectionGate, RateLimiter
from ..service.metrics import Metrics
from ..service.node import Node
from ..service.sessions import LoginGate, Sessions, User
from ..workers.deadlines import DeadlineScheduler
from ..workers.delivery import DeliveryWorker
from ..workers.leases import LeaseKeeper
from ..workers.witness import Witness
from ..workers.witness_submit import WitnessSubmitter

NODE_KEY = web.AppKey("node", Node)
SESSIONS_KEY = web.AppKey("sessions", Sessions)
LOGIN_GATE_KEY = web.AppKey("login_gate", LoginGate)
# New and open connections per client address, before any authentication.
GATE_KEY = web.AppKey("connection_gate", ConnectionGate)
# Calls per authenticated peer (429 + Retry-After beyond it).
PEER_LIMITER_KEY = web.AppKey("peer_limiter", RateLimiter)
# The nonces of each peer's calls within the clock-skew window (a second use: replay).
NONCES_KEY = web.AppKey("peer_nonces", NonceCache)
# tlog-witness submissions per client address (the endpoint is unauthenticated).
WITNESS_LIMITER_KEY = web.AppKey("witness_limiter", RateLimiter)
METRICS_KEY = web.AppKey("metrics", Metrics)
# The node's HTTP client session (calls to peers made while answering a request).
CLIENT_KEY = web.AppKey("client_session", aiohttp.ClientSession)
TOKEN_KEY = web.AppKey("metrics_token", str)
# The background workers, set once the node has started them.
WORKER_KEY = web.AppKey("delivery_worker", DeliveryWorker)
WITNESS_KEY = web.AppKey("witness", Witness)
WITNESS_SUBMIT_KEY = web.AppKey("witness_submitter", WitnessSubmitter)
DEADLINES_KEY = web.AppKey("deadlines", DeadlineScheduler)
LEASES_KEY = web.AppKey("leases", LeaseKeeper)

USER_KEY = web.RequestKey("exchange_user", User)
ALERTS_KEY = web.RequestKey("exchange_alerts", int)
