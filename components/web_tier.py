"""What belongs to the web role across its nodes: the upstreams of every app node, and HTTPS where they are the public entry.

The static files reach web nodes with the release (components/release.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi

from components import remote
from components.node_group import NodeHandle
from model.roles import APP_PORT, Role


@dataclass(frozen=True)
class WebTierArgs:
    nodes: Sequence[NodeHandle]
    app_nodes: Sequence[NodeHandle]
    """Every web node proxies to every one of these."""
    app_activations: Sequence[pulumi.Resource]
    """The upstreams are written once every app node runs the release."""
    tls_domain: str | None
    """Set when these nodes are the site's public entry for a domain: each serves HTTPS itself."""
    names: Sequence[pulumi.Resource]
    """The site's DNS records: a certificate is asked for only once the name points here."""


class WebTier(pulumi.ComponentResource):
    steps: list[pulumi.Resource]
    """Every step of every web node: once all are done, the nodes serve the site."""

    def __init__(self, name: str, args: WebTierArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:web_tier:WebTier", name, None, opts)
        self.upstreams = pulumi.Output.all(*[h.address(Role.APP) for h in args.app_nodes]).apply(
            lambda hosts: " ".join(sorted(f"{host}:{APP_PORT}" for host in hosts))
        )
        self.steps = []
        for h in args.nodes:
            self.steps.append(remote.step(
                f"{h.node.name}-upstream", h.connection,
                remote.step_line("web-upstream.sh", {"UPSTREAMS": self.upstreams}),
                self, after=[h.ready, *args.app_activations],
            ))
            if args.tls_domain:
                self.steps.append(remote.step(
                    f"{h.node.name}-tls", h.connection, remote.step_line("web-tls.sh", {"DOMAIN": args.tls_domain}),
                    self, after=[h.ready, *args.names], undo=remote.step_line("web-tls.sh", {"DISABLE": "1"}),
                ))
        self.register_outputs({"upstreams": self.upstreams})
