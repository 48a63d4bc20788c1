"""The whole site: composes the network, the node groups, the tiers and the entry point."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from components.alerts import Alerts, AlertsArgs
from components.app_tier import AppTier, AppTierArgs
from components.backups import Backups, BackupsArgs
from components.cache_node import CacheNode, CacheNodeArgs
from components.db_node import DbNode, DbNodeArgs
from components.dns import declare_a_records
from components.firewall import Firewalls, FirewallsArgs
from components.load_balancer import LoadBalancer, LoadBalancerArgs
from components.network import Network, NetworkArgs
from components.node_group import NodeGroup, NodeGroupArgs, NodeHandle
from components.release import Releases, ReleasesArgs
from components.site_ready import SiteReadyArgs, site_ready
from components.spaces import Spaces, SpacesArgs
from components.stack_config import Secrets
from components.web_tier import WebTier, WebTierArgs
from model import naming
from model.project import ROOT
from model.roles import ROLES, Role
from model.sizing import ConnectionPlan, pg_max_connections, plan_connections, tune
from model.topology import Target, Topology
from render.app_env import MediaStore, render_app_env
from render.release import build_release
from render.userdata import render_user_data

RELEASE_DIR = ROOT / "build" / "releases"
TIER_TYPES: dict[Role, str] = {
    Role.WEB: "django-tiers:web_tier:WebTier",
    Role.APP: "django-tiers:app_tier:AppTier",
    Role.CACHE: "django-tiers:cache_node:CacheNode",
    Role.DB: "django-tiers:db_node:DbNode",
}
"""Each tier component's type. The role firewalls, and the release's upload, install and static steps, once
belonged to them; an alias to there moves each without replacing it."""


@dataclass(frozen=True)
class SiteArgs:
    topology: Topology
    secrets: Secrets


def connection_plan(topology: Topology) -> ConnectionPlan:
    """The app tier's workers against what the db node's Postgres holds: each node's workers come from its size."""
    workers = tuple(tune(n.size, n.roles).gunicorn_workers for n in topology.nodes_with(Role.APP))
    db = topology.db_node
    return plan_connections(workers, pg_max_connections(tune(db.size, db.roles)))


def _group_user_data(group: str, topology: Topology) -> dict[str, str]:
    """Each node's user-data, rendered once per group: every node of a group gets the same bytes."""
    members = [n for n in topology.nodes if n.group == group]
    text = render_user_data(members[0], topology)
    return {n.name: text for n in members}


class Site(pulumi.ComponentResource):
    url: pulumi.Output[str]
    public_ip: pulumi.Output[str]
    private_ips: pulumi.Output[dict[str, list[str]]]
    manage_host: pulumi.Output[str]
    """The first app node's public address: where an admin runs management commands (it migrates, too)."""
    bucket: pulumi.Output[str]

    def __init__(self, name: str, args: SiteArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:site:Site", name, None, opts)
        topology, secrets = args.topology, args.secrets
        cfg = topology.config
        child = pulumi.ResourceOptions(parent=self)
        self.network = Network("network", NetworkArgs(
            cfg.stack, cfg.region, cfg.vpc_cidr,
            {"stack-tag": topology.stack_tag, **{f"{role}-tag": topology.role_tag(role) for role in ROLES}},
            topology.firewall(Target.ALL),
        ), child)
        tag_names = self.network.tag_names
        self.load_balancer = LoadBalancer("entry", LoadBalancerArgs(
            cfg.stack, cfg.region, self.network.vpc.id, tag_names[topology.role_tag(Role.WEB)], cfg.domain,
        ), child) if cfg.load_balancer else None
        self.firewalls = Firewalls("firewalls", FirewallsArgs(
            specs=[spec for spec in map(topology.firewall, ROLES) if spec is not None],
            tag_names=tag_names,
            load_balancer_id=self.load_balancer.lb.id if self.load_balancer else None,
            former_parents={role: pulumi.create_urn(str(role), token, parent=self) for role, token in TIER_TYPES.items()},
        ), child)
        self.groups = {
            g.name: NodeGroup(g.name, NodeGroupArgs(
                nodes=tuple(n for n in topology.nodes if n.group == g.name),
                user_data=_group_user_data(g.name, topology),
                binds={role: topology.bind(g.name, role) for (group, role) in topology.binds if group == g.name},
                tags=[tag_names[topology.stack_tag], *(tag_names[topology.role_tag(role)] for role in g.roles)],
                image=cfg.image,
                region=cfg.region,
                vpc_id=self.network.vpc.id,
                guarded_by=[
                    self.network.base_firewall,
                    *(fw for target, fw in self.firewalls.by_target.items() if target in g.roles),
                ],
                private_key=secrets.ssh_private_key,
            ), child)
            for g in cfg.groups
        }
        nodes = {n: h for group in self.groups.values() for n, h in group.nodes.items()}

        def carrying(role: Role) -> list[NodeHandle]:
            return [nodes[n.name] for n in topology.nodes_with(role)]

        web_nodes = carrying(Role.WEB)
        public_ips = [self.load_balancer.lb.ip] if self.load_balancer else [h.droplet.ipv4_address for h in web_nodes]
        self.public_ip = public_ips[0]

        db = nodes[topology.db_node.name]
        connections = connection_plan(topology)
        self.db = DbNode("db", DbNodeArgs(
            db, topology.volume_name, cfg.db_volume_gb, cfg.region, secrets.db_password, connections,
            topology.bind(topology.db_node.group, Role.DB),
        ), child)
        self.spaces = Spaces("spaces", SpacesArgs(
            cfg.stack, topology.bucket_name, topology.spaces_region, cfg.backups.restore_from,
        ), child)
        self.backups = Backups("backups", BackupsArgs(
            db, cfg.backups, self.spaces, topology.spaces_region, self.db.ready,
        ), child)
        self.cache = CacheNode("cache", CacheNodeArgs(carrying(Role.CACHE)), child)
        env_file = pulumi.Output.all(
            db_host=db.address(Role.DB),
            cache_hosts=self.cache.hosts,
            public=pulumi.Output.all(*public_ips),
            db_password=secrets.db_password,
            secret_key=secrets.secret_key,
            bucket=self.spaces.bucket.name,
            endpoint=self.spaces.bucket.endpoint,
            access_key=self.spaces.key.access_key,
            spaces_secret=self.spaces.key.secret_key,
        ).apply(lambda v: render_app_env(
            cfg.app, v["db_host"], v["cache_hosts"], v["public"], cfg.domain, v["db_password"], v["secret_key"],
            MediaStore(v["bucket"], v["endpoint"], topology.spaces_region, v["access_key"], v["spaces_secret"]),
            pooled=connections.pooled,
        ))
        release = build_release(ROOT / cfg.app.source, RELEASE_DIR)
        self.releases = Releases("release", ReleasesArgs(
            app=cfg.app,
            release=release,
            nodes=[nodes[n.name] for n in topology.nodes if Role.APP in n.roles or Role.WEB in n.roles],
            web_nodes=[h.node.name for h in web_nodes],
            former_parents={
                suffix: pulumi.create_urn(str(role), TIER_TYPES[role], parent=self)
                for suffix, role in (("upload", Role.APP), ("release", Role.APP), ("static", Role.WEB))
            },
        ), child)
        self.app = AppTier("app", AppTierArgs(
            app=cfg.app,
            nodes=carrying(Role.APP),
            release=release,
            installed=self.releases.installed,
            collected=self.releases.collected,
            published=self.releases.published,
            env_file=env_file,
            digest_key=secrets.secret_key,
            db_setup=self.backups.step,
            site_host=cfg.domain or public_ips[0],
            site_https=cfg.domain is not None,
        ), child)
        records = declare_a_records(cfg.domain, public_ips, self) if cfg.domain else []
        self.web = WebTier("web", WebTierArgs(
            nodes=web_nodes,
            app_nodes=carrying(Role.APP),
            app_activations=self.app.activations,
            tls_domain=cfg.domain if cfg.domain and not cfg.load_balancer else None,
            names=records,
        ), child)
        self.db.stop_pool_after(self.web.steps)
        self.url = (
            pulumi.Output.from_input(f"https://{cfg.domain}/") if cfg.domain
            else self.public_ip.apply(lambda ip: f"http://{ip}/")
        )
        self.ready = site_ready("site-ready", SiteReadyArgs(
            url=self.url, public_ip=self.public_ip, domain=cfg.domain, release=release.name,
            upstreams=self.web.upstreams,
            after=[*self.web.steps, *records, *([self.load_balancer.lb] if self.load_balancer else [])],
        ), self)
        if cfg.alerts:
            Alerts("alerts", AlertsArgs(
                cfg.stack, cfg.alerts, {role: tag_names[topology.role_tag(role)] for role in ROLES}, self.url,
            ), child)
        self.private_ips = pulumi.Output.all(**{g: grp.private_ips for g, grp in self.groups.items()})
        self.manage_host = carrying(Role.APP)[0].droplet.ipv4_address
        self._project(cfg.stack, nodes, child)
        self.bucket = self.spaces.bucket.name
        self.register_outputs({
            "url": self.url, "publicIp": self.public_ip, "privateIps": self.private_ips, "manageHost": self.manage_host,
            "bucket": self.bucket,
        })

    def _project(self, stack: str, nodes: dict[str, NodeHandle], child: pulumi.ResourceOptions) -> None:
        """Group the stack's resources in a DigitalOcean project, one membership per resource so scaling adds, never edits."""
        project = do.Project(
            "project",
            name=naming.project_name(stack),
            description=f"django-tiers stack {stack}",
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
