"""What belongs to the cache role: the firewall letting app reach memcached."""

from __future__ import annotations

import pulumi

from components.firewall import firewall_for
from components.topology import Topology


class CacheNode(pulumi.ComponentResource):
    def __init__(self, name: str, topology: Topology, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:cache_node:CacheNode", name, None, opts)
        self.firewall = firewall_for("cache", topology, self)
        self.register_outputs({})
