"""A cloud firewall declared from the model's FirewallSpec, attached to its droplets by tag."""

from __future__ import annotations

import pulumi
import pulumi_digitalocean as do

from model import naming
from model.topology import INTERNET, Allow, FirewallSpec

OUTBOUND = [
    do.FirewallOutboundRuleArgs(protocol=protocol, port_range=ports, destination_addresses=list(INTERNET))
    for protocol, ports in (("tcp", "1-65535"), ("udp", "1-65535"), ("icmp", None))
]


def _inbound(allow: Allow, load_balancer_id: pulumi.Input[str] | None) -> do.FirewallInboundRuleArgs:
    sources: dict[str, object] = {}
    if allow.addresses:
        sources["source_addresses"] = list(allow.addresses)
    elif allow.load_balancer:
        sources["source_load_balancer_uids"] = [load_balancer_id]
    else:
        sources["source_tags"] = list(allow.tags)
    return do.FirewallInboundRuleArgs(protocol="tcp", port_range=str(allow.port), **sources)


def declare_firewall(
    spec: FirewallSpec | None,
    parent: pulumi.Resource,
    load_balancer_id: pulumi.Input[str] | None = None,
) -> do.Firewall | None:
    """The firewall of `spec`, a child of `parent`; nothing when the spec is None."""
    if spec is None:
        return None
    return do.Firewall(
        f"{spec.target}-firewall",
        name=naming.firewall_name(spec.tag),
        tags=[spec.tag],
        inbound_rules=[_inbound(allow, load_balancer_id) for allow in spec.allows],
        outbound_rules=OUTBOUND if spec.outbound_anywhere else None,
        opts=pulumi.ResourceOptions(parent=parent),
    )
