"""What belongs to the app role across its nodes: the firewall letting web reach gunicorn."""

from __future__ import annotations

import pulumi

from components.firewall import firewall_for
from components.topology import Topology


class AppTier(pulumi.ComponentResource):
    def __init__(self, name: str, topology: Topology, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:app_tier:AppTier", name, None, opts)
        self.firewall = firewall_for("app", topology, self)
        self.register_outputs({})
