"""Cloud firewalls declared from the model's FirewallSpecs, attached to their droplets by tag.

A droplet must not boot before the firewalls that guard it exist, so the
role firewalls are declared together, before the node groups, which wait
for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from model import naming
from model.topology import Allow, FirewallSpec


def _inbound(
    allow: Allow, tag_names: Mapping[str, pulumi.Input[str]], load_balancer_id: pulumi.Input[str] | None
) -> do.FirewallInboundRuleArgs:
    sources: dict[str, object] = {}
    if allow.addresses:
        sources["source_addresses"] = list(allow.addresses)
    elif allow.load_balancer:
        sources["source_load_balancer_uids"] = [load_balancer_id]
    else:
        sources["source_tags"] = [tag_names[t] for t in allow.tags]
    return do.FirewallInboundRuleArgs(protocol="tcp", port_range=str(allow.port), **sources)


def declare_firewall(
    spec: FirewallSpec | None,
    parent: pulumi.Resource,
    tag_names: Mapping[str, pulumi.Input[str]],
    load_balancer_id: pulumi.Input[str] | None = None,
    aliases: Sequence[pulumi.Alias] = (),
) -> do.Firewall | None:
    """The firewall of `spec`, a child of `parent`; nothing when the spec is None."""
    if spec is None:
        return None
    return do.Firewall(
        f"{spec.target}-firewall",
        name=naming.firewall_name(spec.tag),
        tags=[tag_names[spec.tag]],
        inbound_rules=[_inbound(allow, tag_names, load_balancer_id) for allow in spec.allows],
        outbound_rules=[
            do.FirewallOutboundRuleArgs(protocol=e.protocol, port_range=e.ports, destination_addresses=list(e.destinations))
            for e in spec.egress
        ] or None,
        opts=pulumi.ResourceOptions(parent=parent, aliases=list(aliases)),
    )


@dataclass(frozen=True)
class FirewallsArgs:
    specs: Sequence[FirewallSpec]
    tag_names: Mapping[str, pulumi.Input[str]]
    load_balancer_id: pulumi.Input[str] | None
    former_parents: Mapping[str, pulumi.Input[str]]
    """Target -> the URN of the component a firewall used to belong to, so the engine moves it, not replaces it."""


class Firewalls(pulumi.ComponentResource):
    by_target: dict[str, do.Firewall]

    def __init__(self, name: str, args: FirewallsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:firewall:Firewalls", name, None, opts)
        self.by_target = {}
        for spec in args.specs:
            former = args.former_parents.get(spec.target)
            aliases = [pulumi.Alias(parent=former)] if former is not None else []
            firewall = declare_firewall(spec, self, args.tag_names, args.load_balancer_id, aliases)
            if firewall is not None:
                self.by_target[spec.target] = firewall
        self.register_outputs({"ids": {t: fw.id for t, fw in self.by_target.items()}})
