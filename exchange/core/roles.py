"""Who may do what: the four roles of a node's users, defined once.

Investigators write requests and see their own; liaison prosecutors handle the
inbox and see every request; auditors read the audit log; admins run the node.
Auditors and admins never see request contents.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    INVESTIGATOR = "investigator"
    LIAISON = "liaison"
    AUDITOR = "auditor"
    ADMIN = "admin"


ALL = tuple(Role)
# Who reads and writes request contents.
CONTENT = (Role.INVESTIGATOR, Role.LIAISON)
# Who sees deadlines and escalation alerts (investigators: of their own requests).
DEADLINES = (Role.INVESTIGATOR, Role.LIAISON, Role.ADMIN)
STATISTICS = (Role.LIAISON, Role.ADMIN)
METRICS = (Role.ADMIN, Role.AUDITOR)
# Where each role lands after logging in.
START_PAGE = {
    Role.INVESTIGATOR: "/requests",
    Role.LIAISON: "/inbox",
    Role.AUDITOR: "/audit",
    Role.ADMIN: "/admin",
}


def parse_role(value: str) -> Role:
    """The role named ``value``; ``ValueError`` for anything else."""
    try:
        return Role(value)
    except ValueError:
        raise ValueError(f"role must be one of {', '.join(ALL)}") from None
