"""What a username may be, defined once: login, the CLI and the admin page check it.

A username is 1 to 64 letters, digits, ``.``, ``-`` or ``_``. A failed login for a
known account is audited under its name, and the audit log is permanent and read by
auditors; so whatever a client types into the username box is refused before any
password check or database write unless it could be an account's name. (No space: the
audit entry of a failed login for an unknown name says ``UNKNOWN_USER``, which no
account can be called.)
"""

from __future__ import annotations

import re

from .errors import Malformed

USERNAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
UNKNOWN_USER = "unknown user"


def check_username(username: object) -> str:
    """``username`` if it is a valid account name, else ``Malformed`` (without echoing it)."""
    if not isinstance(username, str) or USERNAME.fullmatch(username) is None:
        raise Malformed("a username is 1 to 64 letters, digits, '.', '-' or '_'")
    return username
