"""Shared test set-up: logs go to stderr (stdout is for command output under test)."""

from __future__ import annotations

import signal

import pytest

from exchange.logs import configure_logging

from .postgres import stop_cluster

configure_logging("console")


def pytest_sessionstart(session: pytest.Session) -> None:
    # A run stopped with SIGTERM ends as an interrupted one (pytest_sessionfinish runs):
    # the throwaway cluster is not left running.
    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    stop_cluster()  # the throwaway PostgreSQL cluster, if a test started one
