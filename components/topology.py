"""From a checked config to the site's shape: nodes, bindings, firewall matrix, cost.

Every decision here is structural: it depends on which roles share a group,
never on how many nodes a group has (except the groups whose count is fixed
at 1), so that growing a tier changes no droplet's user-data (invariant 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from components.config import GroupSpec, SiteConfig
from components.sizes import LOAD_BALANCER_USD_MONTH, SIZES, VOLUME_USD_PER_GB_MONTH

APP_PORT = 8000
PORTS: dict[str, tuple[int, ...]] = {"web": (80, 443), "app": (APP_PORT,), "cache": (11211,), "db": (5432,)}
CONSUMER: dict[str, str] = {"app": "web", "cache": "app", "db": "app"}
LOOPBACK = "loopback"
PRIVATE = "private"
VOLUME_NAME_PREFIX = "pgdata"
INTERNET = ("0.0.0.0/0", "::/0")


@dataclass(frozen=True)
class Node:
    group: str
    index: int
    roles: tuple[str, ...]
    size: str

    @property
    def name(self) -> str:
        return f"{self.group}-{self.index}"


@dataclass(frozen=True)
class Rule:
    """One inbound allowance: `ports` on the nodes of `target` from `source`.

    `target` is a role, or `all` for every node of the stack; `source` is
    `internet`, `admin`, `load_balancer`, or a role (its tag).
    """

    target: str
    ports: tuple[int, ...]
    source: str


@dataclass(frozen=True)
class Topology:
    config: SiteConfig
    nodes: tuple[Node, ...]
    binds: tuple[tuple[str, str, str], ...]
    rules: tuple[Rule, ...]

    @property
    def stack_tag(self) -> str:
        return f"dt-{_tag_safe(self.config.stack)}"

    def role_tag(self, role: str) -> str:
        return f"{self.stack_tag}-{role}"

    def bind(self, group: str, role: str) -> str:
        """LOOPBACK or PRIVATE: where `role` listens on the nodes of `group`."""
        return next(b for g, r, b in self.binds if g == group and r == role)

    def nodes_with(self, role: str) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if role in n.roles)

    @property
    def db_node(self) -> Node:
        return self.nodes_with("db")[0]

    @property
    def volume_name(self) -> str:
        return f"{VOLUME_NAME_PREFIX}-{_tag_safe(self.config.stack)}"

    @property
    def public_entry(self) -> str:
        return "load_balancer" if self.config.load_balancer else "web"

    def monthly_cost(self) -> float:
        droplets = sum(SIZES[n.size].usd_month for n in self.nodes)
        volume = self.config.db_volume_gb * VOLUME_USD_PER_GB_MONTH
        lb = LOAD_BALANCER_USD_MONTH if self.config.load_balancer else 0.0
        return round(droplets + volume + lb, 2)


def _tag_safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in text.lower())


def _count_fixed(config: SiteConfig, group: GroupSpec) -> bool:
    """A group that can only ever have one node: the db group, or every group of onebox and dbsplit."""
    return config.layout in ("onebox", "dbsplit") or "db" in group.roles


def _bind(config: SiteConfig, group: GroupSpec, role: str) -> str:
    consumer_groups = config.group_of(CONSUMER[role])
    alone = consumer_groups == (group,) and _count_fixed(config, group)
    return LOOPBACK if alone else PRIVATE


def build_topology(config: SiteConfig) -> Topology:
    nodes = tuple(
        Node(g.name, i, g.roles, g.size) for g in config.groups for i in range(1, g.count + 1)
    )
    binds = tuple(
        (g.name, role, _bind(config, g, role)) for g in config.groups for role in g.roles if role in CONSUMER
    )
    rules = [Rule("all", (22,), "admin")]
    if config.load_balancer:
        rules.append(Rule("web", (80,), "load_balancer"))
    else:
        rules.append(Rule("web", PORTS["web"], "internet"))
    for role in ("app", "cache", "db"):
        if any(b == PRIVATE for _, r, b in binds if r == role):
            rules.append(Rule(role, PORTS[role], CONSUMER[role]))
    return Topology(config, nodes, binds, tuple(rules))
