"""Test federations never listen on a port browsers refuse (CI once drew 6000, X11)."""

from __future__ import annotations

from exchange.bench.local_federation import candidate_ports, listening_ports
from exchange.core.ports import browser_refuses


def test_the_candidates_skip_every_port_browsers_refuse() -> None:
    ports = candidate_ports(1024, 32768, 5990)
    assert ports[:3] == [5990, 5991, 5992]
    assert 6000 not in ports and 10080 not in ports and 5060 not in ports
    assert 5999 in ports and 6001 in ports and 1024 in ports and ports[-1] == 5989
    assert len(ports) == len(set(ports)) == 32768 - 1024 - 19  # the 19 refused above 1023


def test_chosen_ports_are_ones_browsers_open() -> None:
    ports = listening_ports(200)
    assert len(set(ports)) == 200
    assert not any(browser_refuses(p) for p in ports)


def test_well_known_web_ports_are_allowed() -> None:
    assert not browser_refuses(443) and not browser_refuses(8441)
    assert browser_refuses(6000) and browser_refuses(25)
