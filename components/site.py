"""The whole site: composes the network, the node groups, the tiers and the entry point."""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_digitalocean as do

from components.app_env import render_app_env
from components.app_tier import AppTier
from components.cache_node import CacheNode
from components.db_node import DbNode
from components.dns import zone_and_record
from components.load_balancer import LoadBalancer
from components.network import Network
from components.node_group import NodeGroup
from components.release import build_release
from components.stack_config import PROJECT_DIR, Secrets
from components.topology import Topology
from components.web_tier import WebTier

RELEASE_DIR = PROJECT_DIR / "build" / "releases"


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
            g.name: NodeGroup(g, topology, self.network.vpc.id, fingerprints, secrets.ssh_private_key, child)
            for g in cfg.groups
        }
        nodes = {n: h for group in self.groups.values() for n, h in group.nodes.items()}

        def carrying(role: str):
            return [nodes[n.name] for n in topology.nodes_with(role)]

        self.load_balancer = LoadBalancer("entry", topology, self.network.vpc.id, child) if cfg.load_balancer else None
        web_nodes = carrying("web")
        public_ips = [self.load_balancer.lb.ip] if self.load_balancer else [h.droplet.ipv4_address for h in web_nodes]
        self.public_ip = public_ips[0]

        db = nodes[topology.db_node.name]
        self.db = DbNode("db", topology, db, secrets.db_password, child)
        self.cache = CacheNode("cache", topology, carrying("cache"), child)
        env_file = pulumi.Output.all(
            db_host=db.address("db", topology),
            cache_hosts=self.cache.hosts,
            public=pulumi.Output.all(*public_ips),
            db_password=secrets.db_password,
            secret_key=secrets.secret_key,
        ).apply(lambda v: render_app_env(
            cfg.app, v["db_host"], v["cache_hosts"], v["public"], cfg.domain, v["db_password"], v["secret_key"],
        ))
        release = build_release(PROJECT_DIR / Path(cfg.app.source), RELEASE_DIR)
        self.app = AppTier("app", topology, carrying("app"), release, env_file, self.db.setup, child)
        self.web = WebTier(
            "web", topology, web_nodes, carrying("app"), self.app.activations, self.app.static_archive,
            self.load_balancer.lb.id if self.load_balancer else None, child,
        )

        if cfg.domain:
            zone, record = zone_and_record(cfg.domain)
            for i, ip in enumerate(public_ips, start=1):
                do.DnsRecord(f"a-record-{i}", domain=zone, type="A", name=record, value=ip, ttl=300, opts=child)
            scheme = "https" if self.load_balancer else "http"
            self.url = pulumi.Output.from_input(f"{scheme}://{cfg.domain}/")
        else:
            self.url = self.public_ip.apply(lambda ip: f"http://{ip}/")
        self.private_ips = pulumi.Output.all(**{
            g: pulumi.Output.all(*[h.droplet.ipv4_address_private for h in grp.nodes.values()])
            for g, grp in self.groups.items()
        })
        self._project(topology, nodes, child)
        self.register_outputs({"url": self.url, "publicIp": self.public_ip})

    def _project(self, topology: Topology, nodes: dict, child: pulumi.ResourceOptions) -> None:
        """Group the stack's resources in a DigitalOcean project, one membership per resource so scaling adds, never edits."""
        cfg = topology.config
        project = do.Project(
            "project",
            name=f"django-tiers-{cfg.stack}",
            description=f"django-tiers stack {cfg.stack}",
            purpose="Web Application",
            environment="Production",
            opts=child,
        )
        members = {f"{n}-in-project": h.droplet.droplet_urn for n, h in nodes.items()}
        members["pgdata-in-project"] = self.db.volume.volume_urn
        if self.load_balancer:
            members["lb-in-project"] = self.load_balancer.lb.load_balancer_urn
        for resource_name, urn in members.items():
            do.ProjectResources(resource_name, project=project.id, resources=[urn], opts=child)
