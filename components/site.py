"""The whole site: composes the network, the node groups, the tiers and the entry point."""

from __future__ import annotations

import pulumi
import pulumi_digitalocean as do

from components.app_tier import AppTier
from components.cache_node import CacheNode
from components.db_node import DbNode
from components.dns import zone_and_record
from components.load_balancer import LoadBalancer
from components.network import Network
from components.node_group import NodeGroup
from components.stack_config import Secrets
from components.topology import Topology
from components.web_tier import WebTier


class Site(pulumi.ComponentResource):
    url: pulumi.Output[str]
    public_ip: pulumi.Output[str]
    private_ips: pulumi.Output[dict[str, list[str]]]

    def __init__(self, name: str, topology: Topology, secrets: Secrets, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:site:Site", name, None, opts)
        cfg = topology.config
        child = pulumi.ResourceOptions(parent=self)
        self.network = Network("network", topology, child)
        fingerprints = [key.fingerprint for key in self.network.ssh_keys]
        self.groups = {
            g.name: NodeGroup(g, topology, self.network.vpc.id, fingerprints, child) for g in cfg.groups
        }
        droplets = {name: d for group in self.groups.values() for name, d in group.droplets.items()}

        self.load_balancer = LoadBalancer("entry", topology, self.network.vpc.id, child) if cfg.load_balancer else None
        lb_id = self.load_balancer.lb.id if self.load_balancer else None
        self.web = WebTier("web", topology, lb_id, child)
        self.app = AppTier("app", topology, child)
        self.cache = CacheNode("cache", topology, child)
        self.db = DbNode("db", topology, droplets[topology.db_node.name], child)

        web_droplets = [droplets[n.name] for n in topology.nodes_with("web")]
        public_ips = [self.load_balancer.lb.ip] if self.load_balancer else [d.ipv4_address for d in web_droplets]
        self.public_ip = public_ips[0]
        if cfg.domain:
            zone, record = zone_and_record(cfg.domain)
            for i, ip in enumerate(public_ips, start=1):
                do.DnsRecord(f"a-record-{i}", domain=zone, type="A", name=record, value=ip, ttl=300, opts=child)
            scheme = "https" if self.load_balancer else "http"
            self.url = pulumi.Output.from_input(f"{scheme}://{cfg.domain}/")
        else:
            self.url = self.public_ip.apply(lambda ip: f"http://{ip}/")
        self.private_ips = pulumi.Output.all(
            **{g: pulumi.Output.all(*[d.ipv4_address_private for d in grp.droplets.values()]) for g, grp in self.groups.items()}
        )

        urns = [d.droplet_urn for d in droplets.values()] + [self.db.volume.volume_urn]
        if self.load_balancer:
            urns.append(self.load_balancer.lb.load_balancer_urn)
        do.Project(
            "project",
            name=f"django-tiers-{cfg.stack}",
            description=f"django-tiers stack {cfg.stack} ({cfg.layout})",
            purpose="Web Application",
            environment="Production",
            resources=urns,
            opts=child,
        )
        self.register_outputs({"url": self.url, "publicIp": self.public_ip})
