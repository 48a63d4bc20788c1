"""A group of identical droplets, named `<group>-<index>`, each with its readiness step."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do
from pulumi_command import remote as command

from components import remote
from model.roles import LOOPBACK_ADDRESS, Bind, Role
from model.topology import Node


@dataclass(frozen=True)
class NodeHandle:
    """What the tiers need of one node: its droplet, how to reach it, its readiness step, where its roles listen."""

    node: Node
    droplet: do.Droplet
    connection: command.ConnectionArgs
    ready: command.Command
    binds: Mapping[Role, Bind]

    def address(self, role: Role) -> pulumi.Output[str]:
        """Where this node's `role` listens for its consumers."""
        if self.binds[role] == Bind.LOOPBACK:
            return pulumi.Output.from_input(LOOPBACK_ADDRESS)
        return self.droplet.ipv4_address_private


@dataclass(frozen=True)
class NodeGroupArgs:
    nodes: tuple[Node, ...]
    user_data: Mapping[str, str]
    """Each node's cloud-config, by node name."""
    binds: Mapping[Role, Bind]
    tags: Sequence[pulumi.Input[str]]
    image: str
    region: str
    vpc_id: pulumi.Input[str]
    guarded_by: Sequence[pulumi.Resource]
    """The firewalls attached to these droplets by tag: a droplet boots only once they exist."""
    private_key: pulumi.Output[str]


class NodeGroup(pulumi.ComponentResource):
    nodes: dict[str, NodeHandle]

    def __init__(self, name: str, args: NodeGroupArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:node_group:NodeGroup", name, None, opts)
        self.nodes = {}
        for node in args.nodes:
            droplet = do.Droplet(
                node.name,
                name=node.name,
                image=args.image,
                region=args.region,
                size=node.size,
                vpc_uuid=args.vpc_id,
                monitoring=True,
                user_data=args.user_data[node.name],
                tags=list(args.tags),
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=list(args.guarded_by),
                    # Keys reach the nodes through cloud-init, none through DigitalOcean: droplets
                    # made when keys were registered there keep running rather than being replaced.
                    ignore_changes=["sshKeys"],
                ),
            )
            first_contact = remote.connection(droplet.ipv4_address, args.private_key)
            ready = remote.step(
                f"{node.name}-ready", first_contact, remote.line_step("ready", as_root=False, wait=remote.step_line("wait-ready.sh")),
                self, [droplet],
            )
            pinned = remote.connection(droplet.ipv4_address, args.private_key, remote.pinned_host_key(ready, node.name))
            self.nodes[node.name] = NodeHandle(node, droplet, pinned, ready, args.binds)
        self.private_ips = pulumi.Output.all(*[h.droplet.ipv4_address_private for h in self.nodes.values()])
        self.register_outputs({"privateIps": self.private_ips})
