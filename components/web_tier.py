"""What belongs to the web role across its nodes: the public (or LB-only) firewall."""

from __future__ import annotations

import pulumi

from components.firewall import firewall_for
from components.topology import Topology


class WebTier(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        topology: Topology,
        load_balancer_id: pulumi.Input[str] | None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("django-tiers:web_tier:WebTier", name, None, opts)
        self.firewall = firewall_for("web", topology, self, load_balancer_id)
        self.register_outputs({})
