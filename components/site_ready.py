"""The last step of an `up`: wait, where `pulumi up` runs, until the public entry serves the site.

Without it `up` returns once the last command on a node is done, while a
load balancer still waits for its health checks to pass and visitors still
get errors. The wait runs again, in place, whenever the release or the app
upstreams change, the moments the site may stop serving for a while: both
are in its environment, and it names them once the site serves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
from pulumi_command import local

from render import steps


@dataclass(frozen=True)
class SiteReadyArgs:
    url: pulumi.Input[str]
    """The site's address as visitors use it (siteUrl)."""
    public_ip: pulumi.Input[str]
    domain: str | None
    """With a domain the name is pinned to the entry's address, as public DNS may not carry it yet."""
    release: str
    upstreams: pulumi.Input[str]
    after: Sequence[pulumi.Resource]
    """Everything the entry needs to serve: the web steps, the balancer, the DNS records."""


def site_ready(name: str, args: SiteReadyArgs, parent: pulumi.Resource) -> local.Command:
    env: dict[str, pulumi.Input[str]] = {"URL": args.url, "RELEASE": args.release, "UPSTREAMS": args.upstreams}
    if args.domain:
        env["RESOLVE"] = pulumi.Output.concat(args.domain, ":443:", args.public_ip)
    return local.Command(
        name,
        create=steps.inline_command("site-ready.sh"),
        environment=env,
        add_previous_output_in_env=False,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=list(args.after)),
    )
