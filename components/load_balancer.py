"""The DigitalOcean load balancer in front of the web tier, found by tag so the tier can grow under it."""

from __future__ import annotations

import pulumi
import pulumi_digitalocean as do

from components.paths import HEALTH_PATH
from components.topology import Topology


class LoadBalancer(pulumi.ComponentResource):
    lb: do.LoadBalancer

    def __init__(
        self,
        name: str,
        topology: Topology,
        vpc_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("django-tiers:load_balancer:LoadBalancer", name, None, opts)
        cfg = topology.config
        child = pulumi.ResourceOptions(parent=self)
        rules = [do.LoadBalancerForwardingRuleArgs(entry_port=80, entry_protocol="http", target_port=80, target_protocol="http")]
        certificate = None
        if cfg.domain:
            certificate = do.Certificate(
                "certificate", name=f"{topology.stack_tag}-cert", type="lets_encrypt", domains=[cfg.domain], opts=child
            )
            rules.append(
                do.LoadBalancerForwardingRuleArgs(
                    entry_port=443, entry_protocol="https", target_port=80, target_protocol="http",
                    certificate_name=certificate.name,
                )
            )
        self.lb = do.LoadBalancer(
            "lb",
            name=f"{topology.stack_tag}-lb",
            region=cfg.region,
            vpc_uuid=vpc_id,
            droplet_tag=topology.role_tag("web"),
            forwarding_rules=rules,
            healthcheck=do.LoadBalancerHealthcheckArgs(
                protocol="http", port=80, path=HEALTH_PATH,
                check_interval_seconds=10, response_timeout_seconds=5,
                healthy_threshold=3, unhealthy_threshold=3,
            ),
            redirect_http_to_https=certificate is not None,
            opts=child,
        )
        self.register_outputs({"ip": self.lb.ip})
