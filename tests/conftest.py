"""Shared test set-up: logs go to stderr (stdout is for command output under test)."""

from __future__ import annotations

from exchange.logs import configure_logging

configure_logging("console")
