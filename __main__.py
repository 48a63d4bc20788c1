"""django-tiers: read the stack's config, build the site it describes, export how to reach it."""

import pulumi

from components.site import Site, SiteArgs
from components.stack_config import read_stack_config
from model.topology import build_topology

config, secrets = read_stack_config()
topology = build_topology(config)
site = Site("site", SiteArgs(topology, secrets))

pulumi.export("siteUrl", site.url)
pulumi.export("publicIp", site.public_ip)
pulumi.export("privateIps", site.private_ips)
pulumi.export("manageHost", site.manage_host)
pulumi.export("bucket", site.bucket)
pulumi.export("monthlyCostUsd", topology.monthly_cost())
