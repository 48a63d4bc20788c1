"""What belongs to the cache role: the firewall letting app reach memcached, and where the caches listen."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi

from components.firewall import firewall_for
from components.node_group import NodeHandle
from components.topology import Topology


class CacheNode(pulumi.ComponentResource):
    hosts: pulumi.Output[list[str]]
    """The address each cache node's memcached listens on, for the app's CACHE_LOCATIONS."""

    def __init__(
        self,
        name: str,
        topology: Topology,
        nodes: Sequence[NodeHandle],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("django-tiers:cache_node:CacheNode", name, None, opts)
        self.firewall = firewall_for("cache", topology, self)
        self.hosts = pulumi.Output.all(*[h.address("cache", topology) for h in nodes])
        self.register_outputs({})
