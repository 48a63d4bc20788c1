"""The stack's private network, its SSH keys and the firewall every node carries."""

from __future__ import annotations

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
    ssh_public_keys: tuple[str, ...]
    firewall: FirewallSpec | None
    """What every node lets in: SSH from the admin networks; and all outbound."""


class Network(pulumi.ComponentResource):
    vpc: do.Vpc
    ssh_keys: list[do.SshKey]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:network:Network", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.vpc = do.Vpc(
            "vpc", name=naming.vpc_name(args.stack), region=args.region, ip_range=args.vpc_cidr, opts=child
        )
        self.ssh_keys = [
            do.SshKey(f"ssh-key-{i}", name=naming.ssh_key_name(args.stack, i), public_key=key, opts=child)
            for i, key in enumerate(args.ssh_public_keys, start=1)
        ]
        self.base_firewall = declare_firewall(args.firewall, self)
        self.register_outputs({
            "vpcId": self.vpc.id,
            "sshKeyFingerprints": [key.fingerprint for key in self.ssh_keys],
        })
