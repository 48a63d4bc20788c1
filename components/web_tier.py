"""What belongs to the web role across its nodes: the public (or LB-only) firewall, static files and upstreams."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components import remote
from components.firewall import firewall_for
from components.node_group import NodeHandle
from components.topology import APP_PORT, Topology


class WebTier(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        topology: Topology,
        nodes: Sequence[NodeHandle],
        app_nodes: Sequence[NodeHandle],
        app_activations: Sequence[pulumi.Resource],
        static_archive: pulumi.Output[str],
        load_balancer_id: pulumi.Input[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("django-tiers:web_tier:WebTier", name, None, opts)
        self.firewall = firewall_for("web", topology, self, load_balancer_id)
        upstreams = pulumi.Output.all(*[h.address("app", topology) for h in app_nodes]).apply(
            lambda hosts: " ".join(sorted(f"{host}:{APP_PORT}" for host in hosts))
        )
        for h in nodes:
            remote.step(
                f"{h.node.name}-static", h.connection, remote.step_line("web-static.sh"), self,
                after=[h.ready], stdin=static_archive,
            )
            remote.step(
                f"{h.node.name}-upstream", h.connection, remote.step_line("web-upstream.sh", {"UPSTREAMS": upstreams}),
                self, after=[h.ready, *app_activations],
            )
        self.register_outputs({})
