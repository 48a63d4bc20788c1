"""Turn the topology's firewall rules into DigitalOcean cloud firewalls attached by tag."""

from __future__ import annotations

import pulumi
import pulumi_digitalocean as do

from components.topology import INTERNET, Rule, Topology

OUTBOUND = [
    do.FirewallOutboundRuleArgs(protocol=protocol, port_range=ports, destination_addresses=list(INTERNET))
    for protocol, ports in (("tcp", "1-65535"), ("udp", "1-65535"), ("icmp", None))
]


def _inbound(rule: Rule, topology: Topology, load_balancer_id: pulumi.Input[str] | None) -> list[do.FirewallInboundRuleArgs]:
    sources: dict[str, object] = {}
    if rule.source == "internet":
        sources["source_addresses"] = list(INTERNET)
    elif rule.source == "admin":
        sources["source_addresses"] = list(topology.config.admin_cidrs)
    elif rule.source == "load_balancer":
        sources["source_load_balancer_uids"] = [load_balancer_id]
    else:
        sources["source_tags"] = [topology.role_tag(rule.source)]
    return [do.FirewallInboundRuleArgs(protocol="tcp", port_range=str(port), **sources) for port in rule.ports]


def target_tag(topology: Topology, target: str) -> str:
    return topology.stack_tag if target == "all" else topology.role_tag(target)


def firewall_for(
    target: str,
    topology: Topology,
    parent: pulumi.Resource,
    load_balancer_id: pulumi.Input[str] | None = None,
    outbound: bool = False,
) -> do.Firewall | None:
    """One firewall per target (a role, or `all`), holding that target's rules; None when it has none."""
    rules = [r for r in topology.rules if r.target == target]
    if not rules:
        return None
    return do.Firewall(
        f"{target}-firewall",
        name=f"{target_tag(topology, target)}-fw",
        tags=[target_tag(topology, target)],
        inbound_rules=[inbound for r in rules for inbound in _inbound(r, topology, load_balancer_id)],
        outbound_rules=OUTBOUND if outbound else None,
        opts=pulumi.ResourceOptions(parent=parent),
    )
