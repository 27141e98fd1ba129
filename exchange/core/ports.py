"""Ports that web browsers refuse to open.

Chromium (``net/base/port_util.cc``, ``kRestrictedPorts``) and Firefox (``network.security.
ports.banned``) refuse, with ``ERR_UNSAFE_PORT``, any URL on a port of another protocol
(X11, SIP, IRC...), so a cross-protocol request cannot be forged from a web page. A node's
local UI on one of them would be unreachable from every browser. This is Chromium's list
(Firefox's is the same but for a few ports below 1024).
"""

from __future__ import annotations

BROWSER_BLOCKED_PORTS: frozenset[int] = frozenset(
    {
        *(1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87),
        *(95, 101, 102, 103, 104, 109, 110, 111, 113, 115, 117, 119, 123, 135, 137, 139),
        *(143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531, 532, 540, 548),
        *(554, 556, 563, 587, 601, 636, 989, 990, 993, 995),
        1719,  # H.323
        1720,  # H.323
        1723,  # PPTP
        2049,  # NFS
        3659,  # Apple SASL
        4045,  # lockd
        4190,  # ManageSieve
        5060,  # SIP
        5061,  # SIP over TLS
        6000,  # X11
        6566,  # SANE
        6665,  # IRC
        6666,  # IRC
        6667,  # IRC
        6668,  # IRC
        6669,  # IRC
        6679,  # IRC over TLS
        6697,  # IRC over TLS
        10080,  # Amanda
    }
)


def browser_refuses(port: int) -> bool:
    """Whether browsers refuse to open ``https://host:port/``."""
    return port in BROWSER_BLOCKED_PORTS
