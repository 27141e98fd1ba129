"""Users, sessions and login throttling."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from ..core.canonical import format_time, parse_time
from ..core.errors import Conflict, NotFound
from ..core.roles import Role, parse_role
from ..core.usernames import UNKNOWN_USER
from . import audit
from .db import fetch_all, fetch_one, transaction


@dataclass(frozen=True)
class UserRow:
    username: str
    role: Role
    created_at: str
    disabled: bool
    password_hash: str = ""  # only read when checking a login


@dataclass(frozen=True)
class SessionRow:
    username: str
    role: Role
    csrf_token: str
    expires_at: datetime


def add_user(
    conn: sqlite3.Connection,
    *,
    me: str,
    username: str,
    password_hash: str,
    role: str,
    actor: str,
    now: datetime,
) -> None:
    role = parse_role(role)
    with transaction(conn):
        if fetch_one(conn, "SELECT 1 AS x FROM users WHERE username = ?", (username,)):
            raise Conflict(f"user {username!r} already exists")
        conn.execute(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
            (username, password_hash, role, format_time(now)),
        )
        audit.append(
            conn,
            at=now,
            authority=me,
            action="user_added",
            actor=actor,
            username=username,
            role=role,
        )


def remove_user(
    conn: sqlite3.Connection, *, me: str, username: str, actor: str, now: datetime
) -> None:
    with transaction(conn):
        cursor = conn.execute(
            "UPDATE users SET disabled = 1 WHERE username = ? AND disabled = 0", (username,)
        )
        if cursor.rowcount == 0:
            raise NotFound(f"no active user {username!r}")
        conn.execute("DELETE FROM sessions WHERE username = ?", (username,))
        audit.append(
            conn, at=now, authority=me, action="user_removed", actor=actor, username=username
        )


def get_user(conn: sqlite3.Connection, username: str) -> UserRow | None:
    row = fetch_one(
        conn,
        """SELECT username, role, created_at, disabled, password_hash FROM users
           WHERE username = ? AND disabled = 0""",
        (username,),
    )
    return _user(row) if row else None


def active_users(conn: sqlite3.Connection) -> list[UserRow]:
    rows = fetch_all(
        conn,
        """SELECT username, role, created_at, disabled FROM users WHERE disabled = 0
           ORDER BY username""",
    )
    return [_user(row) for row in rows]


def _user(row: dict[str, object]) -> UserRow:
    return UserRow(
        username=str(row["username"]),
        role=Role(str(row["role"])),
        created_at=str(row["created_at"]),
        disabled=bool(row["disabled"]),
        password_hash=str(row.get("password_hash") or ""),
    )


def failures(conn: sqlite3.Connection, username: str) -> tuple[int, datetime | None]:
    row = fetch_one(
        conn, "SELECT failures, last_at FROM login_failures WHERE username = ?", (username,)
    )
    if row is None:
        return 0, None
    return int(row["failures"]), parse_time(row["last_at"])


def record_login(
    conn: sqlite3.Connection,
    *,
    me: str,
    username: str,
    ok: bool,
    now: datetime,
    session: tuple[str, str, datetime] | None = None,
) -> None:
    """Audit a login attempt; on success store the session (token hash, csrf, expiry)."""
    with transaction(conn):
        if ok:
            conn.execute("DELETE FROM login_failures WHERE username = ?", (username,))
            if session is not None:
                token_hash, csrf, expires = session
                conn.execute(
                    """INSERT INTO sessions
                       (token_hash, username, csrf_token, created_at, expires_at)
                       VALUES (?, ?, ?, ?, ?)""",
                    (token_hash, username, csrf, format_time(now), format_time(expires)),
                )
        else:
            conn.execute(
                """INSERT INTO login_failures (username, failures, last_at) VALUES (?, 1, ?)
                   ON CONFLICT (username) DO UPDATE
                   SET failures = login_failures.failures + 1, last_at = ?""",
                (username, format_time(now), format_time(now)),
            )
        action = "login_succeeded" if ok else "login_failed"
        audit.append(conn, at=now, authority=me, action=action, actor=username)


def record_unknown_login(conn: sqlite3.Connection, *, me: str, now: datetime) -> None:
    """Audit a failed login under a name that is no account, without the name.

    Whatever was typed (a mistyped name, a password in the wrong box) stays out of the
    permanent log and out of ``login_failures``, which therefore only ever holds
    accounts (the service counts unknown names in memory).
    """
    with transaction(conn):
        audit.append(conn, at=now, authority=me, action="login_failed", actor=UNKNOWN_USER)


def get_session(conn: sqlite3.Connection, token_hash: str, now: datetime) -> SessionRow | None:
    row = fetch_one(
        conn,
        """SELECT s.username, s.csrf_token, s.expires_at, u.role FROM sessions s
           JOIN users u ON u.username = s.username WHERE s.token_hash = ? AND u.disabled = 0""",
        (token_hash,),
    )
    if row is None or parse_time(row["expires_at"]) <= now:
        return None
    return SessionRow(
        username=row["username"],
        role=Role(row["role"]),
        csrf_token=row["csrf_token"],
        expires_at=parse_time(row["expires_at"]),
    )


def delete_session(conn: sqlite3.Connection, token_hash: str) -> None:
    with transaction(conn):
        conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))


def purge_sessions(conn: sqlite3.Connection, now: datetime) -> int:
    """Delete the sessions past their expiry; returns how many there were."""
    with transaction(conn):
        cursor = conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (format_time(now),))
        return cursor.rowcount
