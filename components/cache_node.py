"""What belongs to the cache role across its nodes: where the caches listen, for the app's settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components.node_group import NodeHandle
from model.roles import Role


@dataclass(frozen=True)
class CacheNodeArgs:
    nodes: Sequence[NodeHandle]


class CacheNode(pulumi.ComponentResource):
    hosts: pulumi.Output[list[str]]
    """The address each cache node's memcached listens on, for the app's CACHE_LOCATIONS."""

    def __init__(self, name: str, args: CacheNodeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:cache_node:CacheNode", name, None, opts)
        self.hosts = pulumi.Output.all(*[h.address(Role.CACHE) for h in args.nodes])
        self.register_outputs({"hosts": self.hosts})
