"""How long contents are kept, by kind of record (pure rules).

A request's contents (every message's text and every attached file) are kept
while it is open, and for a configured period after it was last active once it
is finished. Past that, retention destroys the keys (crypto-erasure); the
metadata and the audit log, which hold no contents, stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FINISHED = frozenset({"answered", "closed", "rejected"})


@dataclass(frozen=True)
class RetentionPolicy:
    finished: timedelta = timedelta(days=5 * 365)  # answered, closed or rejected
    undelivered: timedelta = timedelta(days=365)  # expired before any receipt
    open: timedelta | None = None  # still open: kept until finished, unless set
    unsent_uploads: timedelta = timedelta(hours=24)  # files never attached to a message


def keep_until(status: str, last_activity: datetime, policy: RetentionPolicy) -> datetime | None:
    """When a request's contents must be erased (None: keep, no limit applies)."""
    if status in FINISHED:
        return last_activity + policy.finished
    if status == "expired":
        return last_activity + policy.undelivered
    return last_activity + policy.open if policy.open is not None else None


def due(status: str, last_activity: datetime, policy: RetentionPolicy, now: datetime) -> bool:
    limit = keep_until(status, last_activity, policy)
    return limit is not None and now >= limit
