"""The stack's private network, its SSH keys and the firewall every node carries."""

from __future__ import annotations

import pulumi
import pulumi_digitalocean as do

from components.firewall import firewall_for
from components.topology import Topology


class Network(pulumi.ComponentResource):
    vpc: do.Vpc
    ssh_keys: list[do.SshKey]

    def __init__(self, name: str, topology: Topology, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:network:Network", name, None, opts)
        cfg = topology.config
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = do.Vpc(
            "vpc", name=f"{topology.stack_tag}-vpc", region=cfg.region, ip_range=cfg.vpc_cidr, opts=child
        )
        self.ssh_keys = [
            do.SshKey(f"ssh-key-{i}", name=f"{topology.stack_tag}-key-{i}", public_key=key, opts=child)
            for i, key in enumerate(cfg.ssh_public_keys, start=1)
        ]
        self.base_firewall = firewall_for("all", topology, self, outbound=True)
        self.register_outputs({"vpcId": self.vpc.id})
