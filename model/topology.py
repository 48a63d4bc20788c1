"""From a checked config to the site's shape: nodes, where each role listens, the firewall matrix, the cost.

Every decision here is structural: it depends on which roles share a group,
never on how many nodes a group has (except groups that can only ever hold
one node), so that growing a tier changes no droplet's user-data
(invariant 1).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from model import naming
from model.config import GroupSpec, SiteConfig
from model.roles import CONSUMER, PORTS, Bind, Role
from model.sizes import LOAD_BALANCER_USD_MONTH, SIZES, SPACES_REGIONS, SPACES_USD_MONTH, VOLUME_USD_PER_GB_MONTH

INTERNET = ("0.0.0.0/0", "::/0")
HTTPS_PORT = 443
EGRESS_ANYWHERE: tuple[tuple[str, str], ...] = (
    ("udp", "53"), ("tcp", "53"),  # DNS
    ("udp", "123"),  # NTP
    ("tcp", "80"), ("tcp", "443"),  # packages, pip, ACME, DigitalOcean's metadata and agent
)
"""What a node may open to the internet; inside the VPC it may open anything."""


@dataclass(frozen=True)
class Node:
    group: str
    index: int
    roles: tuple[Role, ...]
    size: str

    @property
    def name(self) -> str:
        return naming.node_name(self.group, self.index)


class Target:
    """What a firewall rule protects besides a role: every node of the stack."""

    ALL = "all"


class Source:
    """Who a firewall rule lets in besides a role's nodes."""

    INTERNET = "internet"
    ADMIN = "admin"
    LOAD_BALANCER = "load_balancer"


@dataclass(frozen=True)
class Rule:
    """One inbound allowance: `ports` on the nodes of `target` from `source`.

    `target` is a Role or Target.ALL; `source` is a Role (its nodes) or one of Source.
    """

    target: str
    ports: tuple[int, ...]
    source: str


@dataclass(frozen=True)
class Allow:
    """One port opened to one kind of source: addresses, the droplets of tags, or the load balancer."""

    port: int
    addresses: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    load_balancer: bool = False


@dataclass(frozen=True)
class Egress:
    """What a node may open: a protocol, its ports (None for ICMP), and where to."""

    protocol: str
    ports: str | None
    destinations: tuple[str, ...]


@dataclass(frozen=True)
class FirewallSpec:
    """The cloud firewall of one target: the tag it is attached by, what it lets in, and what it lets out."""

    target: str
    tag: str
    allows: tuple[Allow, ...]
    egress: tuple[Egress, ...]


@dataclass(frozen=True)
class Topology:
    config: SiteConfig
    nodes: tuple[Node, ...]
    binds: Mapping[tuple[str, Role], Bind]
    """(group, consumed role) -> where that role listens on the group's nodes."""
    rules: tuple[Rule, ...]

    @property
    def stack_tag(self) -> str:
        return naming.stack_tag(self.config.stack)

    def role_tag(self, role: Role) -> str:
        return naming.role_tag(self.config.stack, role)

    def target_tag(self, target: str) -> str:
        """The tag a firewall rule's target stands for."""
        return self.stack_tag if target == Target.ALL else self.role_tag(Role(target))

    def bind(self, group: str, role: Role) -> Bind:
        return self.binds[(group, role)]

    def nodes_with(self, role: Role) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if role in n.roles)

    def rules_for(self, target: str) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.target == target)

    def firewall(self, target: str) -> FirewallSpec | None:
        """The firewall guarding `target` (a Role or Target.ALL); None when nothing may reach it."""
        rules = self.rules_for(target)
        if not rules:
            return None
        allows = tuple(self._allow(rule.source, port) for rule in rules for port in rule.ports)
        return FirewallSpec(target, self.target_tag(target), allows, self._egress() if target == Target.ALL else ())

    def _egress(self) -> tuple[Egress, ...]:
        vpc = (self.config.vpc_cidr,)
        return (
            *(Egress(protocol, ports, INTERNET) for protocol, ports in EGRESS_ANYWHERE),
            Egress("tcp", "1-65535", vpc),
            Egress("udp", "1-65535", vpc),
            Egress("icmp", None, INTERNET),
        )

    def _allow(self, source: str, port: int) -> Allow:
        if source == Source.INTERNET:
            return Allow(port, addresses=INTERNET)
        if source == Source.ADMIN:
            return Allow(port, addresses=self.config.admin_cidrs)
        if source == Source.LOAD_BALANCER:
            return Allow(port, load_balancer=True)
        return Allow(port, tags=(self.role_tag(Role(source)),))

    @property
    def db_node(self) -> Node:
        return self.nodes_with(Role.DB)[0]

    @property
    def volume_name(self) -> str:
        return naming.volume_name(self.config.stack)

    @property
    def bucket_name(self) -> str:
        return naming.bucket_name(self.config.stack)

    @property
    def spaces_region(self) -> str:
        return SPACES_REGIONS[self.config.region]

    def monthly_cost(self) -> float:
        droplets = sum(SIZES[n.size].usd_month for n in self.nodes)
        volume = self.config.db_volume_gb * VOLUME_USD_PER_GB_MONTH
        lb = LOAD_BALANCER_USD_MONTH if self.config.load_balancer else 0.0
        return round(droplets + volume + lb + SPACES_USD_MONTH, 2)


def _bind(config: SiteConfig, group: GroupSpec, role: Role) -> Bind:
    alone = config.groups_with(CONSUMER[role]) == (group,) and group.single
    return Bind.LOOPBACK if alone else Bind.PRIVATE


def build_topology(config: SiteConfig) -> Topology:
    nodes = tuple(Node(g.name, i, g.roles, g.size) for g in config.groups for i in range(1, g.count + 1))
    binds = {
        (g.name, role): _bind(config, g, role) for g in config.groups for role in g.roles if role in CONSUMER
    }
    rules = [Rule(Target.ALL, (22,), Source.ADMIN)]
    if config.load_balancer:
        rules.append(Rule(Role.WEB, (80,), Source.LOAD_BALANCER))
    else:
        # nginx listens on 443 only where it holds a certificate: with a domain.
        public = PORTS[Role.WEB] if config.domain else tuple(p for p in PORTS[Role.WEB] if p != HTTPS_PORT)
        rules.append(Rule(Role.WEB, public, Source.INTERNET))
    for role in (Role.APP, Role.CACHE, Role.DB):
        if any(b == Bind.PRIVATE for (_, r), b in binds.items() if r == role):
            rules.append(Rule(role, PORTS[role], CONSUMER[role]))
    return Topology(config, nodes, binds, tuple(rules))
