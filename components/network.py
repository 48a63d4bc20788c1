"""The stack's private network, its tags, and the firewall every node carries.

Tags are resources of their own: a firewall rule may only name a tag that
exists, so the firewalls and droplets take the tags' names from them and
the engine creates the tags first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from components.firewall import declare_firewall
from model import naming
from model.topology import FirewallSpec


@dataclass(frozen=True)
class NetworkArgs:
    stack: str
    region: str
    vpc_cidr: str
    tags: Mapping[str, str]
    """Resource name -> tag: the stack tag and every role tag."""
    firewall: FirewallSpec | None
    """What every node lets in: SSH from the admin networks; and all outbound."""


class Network(pulumi.ComponentResource):
    vpc: do.Vpc
    tags: dict[str, do.Tag]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = do.Vpc(
            "vpc", name=naming.vpc_name(args.stack), region=args.region, ip_range=args.vpc_cidr, opts=child
        )
        self.tags = {tag: do.Tag(resource_name, name=tag, opts=child) for resource_name, tag in args.tags.items()}
        self.base_firewall = declare_firewall(args.firewall, self, self.tag_names)
        self.register_outputs({"vpcId": self.vpc.id, "tags": [t.name for t in self.tags.values()]})

    @property
    def tag_names(self) -> dict[str, pulumi.Output[str]]:
        """Each tag's name as its resource gives it, so whatever names it waits for it to exist."""
        return {tag: resource.name for tag, resource in self.tags.items()}
