"""A group of identical droplets, named `<group>-<index>`."""

from __future__ import annotations

import pulumi
import pulumi_digitalocean as do

from components.config import GroupSpec
from components.topology import Topology
from components.userdata import render_user_data


class NodeGroup(pulumi.ComponentResource):
    droplets: dict[str, do.Droplet]

    def __init__(
        self,
        group: GroupSpec,
        topology: Topology,
        vpc_id: pulumi.Input[str],
        ssh_key_fingerprints: list[pulumi.Input[str]],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("django-tiers:node_group:NodeGroup", group.name, None, opts)
        cfg = topology.config
        tags = [topology.stack_tag] + [topology.role_tag(role) for role in group.roles]
        self.droplets = {
            node.name: do.Droplet(
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
            for node in topology.nodes
            if node.group == group.name
        }
        self.register_outputs({"privateIps": [d.ipv4_address_private for d in self.droplets.values()]})
