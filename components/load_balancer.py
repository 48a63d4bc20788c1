"""The DigitalOcean load balancer in front of the web tier, found by tag so the tier can grow under it."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from model import naming
from model.paths import HEALTH_PATH


@dataclass(frozen=True)
class LoadBalancerArgs:
    stack: str
    region: str
    vpc_id: pulumi.Input[str]
    droplet_tag: pulumi.Input[str]
    """The tag of the droplets it balances over: the web role's."""
    domain: str | None
    """With a domain: a Let's Encrypt certificate, HTTPS, and HTTP redirected to it."""


class LoadBalancer(pulumi.ComponentResource):
    lb: do.LoadBalancer

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:load_balancer:LoadBalancer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        rules = [do.LoadBalancerForwardingRuleArgs(entry_port=80, entry_protocol="http", target_port=80, target_protocol="http")]
        certificate = None
        if args.domain:
            certificate = do.Certificate(
                "certificate", name=naming.certificate_name(args.stack), type="lets_encrypt", domains=[args.domain],
                opts=child,
            )
            rules.append(
                do.LoadBalancerForwardingRuleArgs(
                    entry_port=443, entry_protocol="https", target_port=80, target_protocol="http",
                    certificate_name=certificate.name,
                )
            )
        self.lb = do.LoadBalancer(
            "lb",
            name=naming.load_balancer_name(args.stack),
            region=args.region,
            vpc_uuid=args.vpc_id,
            droplet_tag=args.droplet_tag,
            forwarding_rules=rules,
            # The fastest check DigitalOcean allows (interval and timeout 3 to 300 s, thresholds 2 to 10):
            # a web node takes traffic 3-6 s after it serves and a dead one leaves the pool in ~9 s, where
            # 10 s checks took 20-30 s for each. Three misses rather than two, so one slow answer does not
            # drop a node.
            healthcheck=do.LoadBalancerHealthcheckArgs(
                protocol="http", port=80, path=HEALTH_PATH,
                check_interval_seconds=3, response_timeout_seconds=3,
                healthy_threshold=2, unhealthy_threshold=3,
            ),
            redirect_http_to_https=certificate is not None,
            # The program keeps the site's one A record itself (components/dns.py).
            disable_lets_encrypt_dns_records=True,
            opts=child,
        )
        self.register_outputs({"ip": self.lb.ip})
