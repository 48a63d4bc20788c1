"""The model's firewall matrix and cost per layout, as literal tables from the README's layouts and prices."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from model.topology import Allow, Egress, FirewallSpec, Topology

Build = Callable[..., Topology]
ADMIN = ("203.0.113.7/32",)
"""RENDER_LAYOUTS' adminCidrs."""
WORLD = ("0.0.0.0/0", "::/0")
SSH = Allow(22, addresses=ADMIN)
PUBLIC_WEB = (Allow(80, addresses=WORLD),)
"""443 is open only where nginx listens on it: with a domain (test_443_follows_the_domain)."""
VPC = ("10.10.0.0/24",)
"""RENDER_LAYOUTS' VPC: the default."""
EGRESS = (
    Egress("udp", "53", WORLD), Egress("tcp", "53", WORLD), Egress("udp", "123", WORLD),
    Egress("tcp", "80", WORLD), Egress("tcp", "443", WORLD),
    Egress("tcp", "1-65535", VPC), Egress("udp", "1-65535", VPC), Egress("icmp", None, WORLD),
)
"""What every node may open (the README's "Security"): DNS, NTP, HTTP(S) and ICMP anywhere, anything in the VPC."""
BEHIND_LB = (Allow(80, load_balancer=True),)

FIREWALLS: dict[str, dict[str, tuple[str, tuple[Allow, ...]]]] = {
    "onebox": {"all": ("dt-test", (SSH,)), "web": ("dt-test-web", PUBLIC_WEB)},
    "dbsplit": {
        "all": ("dt-test", (SSH,)),
        "web": ("dt-test-web", PUBLIC_WEB),
        "db": ("dt-test-db", (Allow(5432, tags=("dt-test-app",)), Allow(6432, tags=("dt-test-app",)))),
    },
    "split": {
        "all": ("dt-test", (SSH,)),
        "web": ("dt-test-web", PUBLIC_WEB),
        "app": ("dt-test-app", (Allow(8000, tags=("dt-test-web",)),)),
        "cache": ("dt-test-cache", (Allow(11211, tags=("dt-test-app",)),)),
        "db": ("dt-test-db", (Allow(5432, tags=("dt-test-app",)), Allow(6432, tags=("dt-test-app",)))),
    },
    "pool": {
        "all": ("dt-test", (SSH,)),
        "web": ("dt-test-web", BEHIND_LB),
        "app": ("dt-test-app", (Allow(8000, tags=("dt-test-web",)),)),
        "cache": ("dt-test-cache", (Allow(11211, tags=("dt-test-app",)),)),
        "db": ("dt-test-db", (Allow(5432, tags=("dt-test-app",)), Allow(6432, tags=("dt-test-app",)))),
    },
    "custom": {
        "all": ("dt-test", (SSH,)),
        "web": ("dt-test-web", BEHIND_LB),
        "app": ("dt-test-app", (Allow(8000, tags=("dt-test-web",)),)),
        "cache": ("dt-test-cache", (Allow(11211, tags=("dt-test-app",)),)),
        "db": ("dt-test-db", (Allow(5432, tags=("dt-test-app",)), Allow(6432, tags=("dt-test-app",)))),
    },
}
"""Per layout of RENDER_LAYOUTS: each guarded target's tag and what it lets in; a target not listed has no firewall."""

MONTHLY_USD = {
    "onebox": 12 + 1.0 + 5,
    "dbsplit": 12 + 12 + 1.0 + 5,
    "split": 6 + 2 * 12 + 6 + 12 + 1.0 + 5,
    "pool": 2 * 6 + 3 * 24 + 2 * 4 + 48 + 1.0 + 12 + 5,
    "custom": 2 * 18 + 24 + 1.0 + 12 + 5,
}
"""Droplets at model/sizes.py's list prices, 10 GB of volume at $0.10, $12 for a load balancer where there is
one, and $5 of Spaces (the stack's bucket) for every stack."""


def test_every_layout_has_a_table(render_layout: str) -> None:
    assert render_layout in FIREWALLS and render_layout in MONTHLY_USD


@pytest.mark.parametrize("target", ["all", "web", "app", "cache", "db"])
def test_firewalls_let_in_exactly_the_matrix(render_layout: str, render_topology: Build, target: str) -> None:
    expected = FIREWALLS[render_layout].get(target)
    spec = render_topology(render_layout).firewall(target)
    if expected is None:
        assert spec is None
    else:
        tag, allows = expected
        assert spec == FirewallSpec(target, tag, allows, EGRESS if target == "all" else ())


@pytest.mark.parametrize("layout", ["onebox", "dbsplit", "split"])
def test_443_follows_the_domain(render_topology: Build, layout: str) -> None:
    spec = render_topology(layout, domain="www.example.com").firewall("web")
    assert spec.allows == (Allow(80, addresses=WORLD), Allow(443, addresses=WORLD))


def test_monthly_cost(render_layout: str, render_topology: Build) -> None:
    assert render_topology(render_layout).monthly_cost() == MONTHLY_USD[render_layout]


def test_monthly_cost_keeps_cents(render_topology: Build) -> None:
    """15 GB of volume costs $1.50: the estimate is rounded to cents, not dollars."""
    assert render_topology("onebox", tiers={"db": {"volumeGb": 15}}).monthly_cost() == 18.5
