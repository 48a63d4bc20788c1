"""DigitalOcean cloud firewalls as nftables rules on the stack's bridge.

The inputs are the Firewall resources' own (tags, inboundRules with
sourceAddresses, sourceTags and sourceLoadBalancerUids); tags and load
balancer ids are resolved to the addresses of the machines and balancers
that carry them at the time of rendering, so the rules are rendered again
whenever a droplet, a firewall or a balancer changes.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Network, ip_network
from typing import Any

from localcloud.host import run
from render import templates

TEMPLATE = "localcloud/templates/firewall.nft.j2"
TABLE_PREFIX = "lcfw"
WHOLE_RANGE = "1-65535"


@dataclass(frozen=True)
class Droplet:
    """A machine as the firewall sees it: its bridge port, its address and its tags."""

    machine: str
    veth: str
    address: str
    tags: tuple[str, ...]


@dataclass(frozen=True)
class FirewallSpec:
    name: str
    tags: tuple[str, ...]
    inbound_rules: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Allow:
    protocol: str
    ports: str
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Guard:
    """Everything a machine accepts: the union of the rules of the firewalls attached to it."""

    machine: str
    veth: str
    firewalls: tuple[str, ...]
    allows: tuple[Allow, ...]

    @property
    def chain(self) -> str:
        return "to_" + re.sub(r"[^A-Za-z0-9_]", "_", self.machine)


def table_name(stack: str) -> str:
    return TABLE_PREFIX + hashlib.sha256(stack.encode()).hexdigest()[:8]


def _ports(rule: Mapping[str, Any]) -> str:
    """DigitalOcean's "all" or empty range means every port."""
    ports = str(rule.get("portRange") or "all")
    return WHOLE_RANGE if ports in ("all", "0") else ports


def _ipv4(cidrs: Sequence[str]) -> list[str]:
    """IPv4 sources only: the local cloud has no IPv6 path, so ::/0 has nothing to allow."""
    return [str(net) for net in (ip_network(c, strict=False) for c in cidrs) if isinstance(net, IPv4Network)]


def guards(
    droplets: Sequence[Droplet],
    firewalls: Sequence[FirewallSpec],
    balancers: Mapping[str, str],
) -> list[Guard]:
    """One guard per machine that has a firewall attached; machines without one take everything."""
    out = []
    for droplet in sorted(droplets, key=lambda d: d.machine):
        attached = [f for f in firewalls if set(f.tags) & set(droplet.tags)]
        if not attached:
            continue
        allows = []
        for firewall in attached:
            for rule in firewall.inbound_rules:
                sources = _ipv4(rule.get("sourceAddresses") or [])
                wanted_tags = set(rule.get("sourceTags") or [])
                sources += [d.address for d in droplets if wanted_tags & set(d.tags)]
                sources += [balancers[uid] for uid in rule.get("sourceLoadBalancerUids") or [] if uid in balancers]
                if sources:
                    allows.append(Allow(str(rule["protocol"]), _ports(rule), tuple(sorted(set(sources)))))
        out.append(Guard(droplet.machine, droplet.veth, tuple(f.name for f in attached), tuple(allows)))
    return out


def render(stack: str, rules: Sequence[Guard]) -> str:
    return templates.render(TEMPLATE, stack=stack, table=table_name(stack), guards=rules)


def apply(stack: str, rules: Sequence[Guard]) -> None:
    """Replace the stack's table in one transaction: no moment without rules."""
    run(["nft", "-f", "-"], input_bytes=render(stack, rules).encode())


def remove(stack: str) -> None:
    table = table_name(stack)
    if run(["nft", "list", "table", "bridge", table], check=False).returncode == 0:
        run(["nft", "delete", "table", "bridge", table])
