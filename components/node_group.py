"""A group of identical droplets, named `<group>-<index>`, each with its readiness step."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do
from pulumi_command import remote as command

from components import remote
from components.config import GroupSpec
from components.topology import LOOPBACK, Node, Topology
from components.userdata import render_user_data

LOOPBACK_ADDRESS = "127.0.0.1"


@dataclass(frozen=True)
class NodeHandle:
    """What the tiers need of one node: its droplet, how to reach it, and its readiness step."""

    node: Node
    droplet: do.Droplet
    connection: command.ConnectionArgs
    ready: command.Command

    def address(self, role: str, topology: Topology) -> pulumi.Output[str]:
        """Where this node's `role` listens for its consumers."""
        if topology.bind(self.node.group, role) == LOOPBACK:
            return pulumi.Output.from_input(LOOPBACK_ADDRESS)
        return self.droplet.ipv4_address_private


class NodeGroup(pulumi.ComponentResource):
    nodes: dict[str, NodeHandle]

    def __init__(
        self,
        group: GroupSpec,
        topology: Topology,
        vpc_id: pulumi.Input[str],
        ssh_key_fingerprints: list[pulumi.Input[str]],
        private_key: pulumi.Output[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("django-tiers:node_group:NodeGroup", group.name, None, opts)
        cfg = topology.config
        tags = [topology.stack_tag] + [topology.role_tag(role) for role in group.roles]
        self.nodes = {}
        for node in topology.nodes:
            if node.group != group.name:
                continue
            droplet = do.Droplet(
                node.name,
                name=node.name,
                image=cfg.image,
                region=cfg.region,
                size=node.size,
                vpc_uuid=vpc_id,
                ssh_keys=ssh_key_fingerprints,
                monitoring=True,
                user_data=render_user_data(node, topology),
                tags=tags,
                opts=pulumi.ResourceOptions(parent=self),
            )
            conn = remote.connection(droplet.ipv4_address, private_key)
            ready = remote.step(f"{node.name}-ready", conn, remote.step_line("wait-ready.sh"), self, [droplet])
            self.nodes[node.name] = NodeHandle(node, droplet, conn, ready)
        self.register_outputs({"privateIps": [h.droplet.ipv4_address_private for h in self.nodes.values()]})
