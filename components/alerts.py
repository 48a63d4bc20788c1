"""Alerts: the monitoring agent's CPU, memory and disk per role tag, and an uptime check on the site's URL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_digitalocean as do

from model import monitoring, naming
from model.config import AlertSpec
from model.roles import Role


@dataclass(frozen=True)
class AlertsArgs:
    stack: str
    spec: AlertSpec
    role_tags: Mapping[Role, pulumi.Input[str]]
    """Each role's tag, as the Tag resource names it, so an alert follows the droplets that carry it."""
    url: pulumi.Input[str]


class Alerts(pulumi.ComponentResource):
    def __init__(self, name: str, args: AlertsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("django-tiers:alerts:Alerts", name, None, opts)
        spec, child = args.spec, pulumi.ResourceOptions(parent=self)
        slack = (
            {"channel": spec.slack_channel, "url": pulumi.Output.secret(spec.slack_url)}
            if spec.slack_channel else None
        )
        tag = naming.stack_tag(args.stack)
        for role, role_tag in args.role_tags.items():
            for metric in monitoring.METRICS:
                do.MonitorAlert(
                    f"{role}-{metric.name}",
                    type=metric.type,
                    compare="GreaterThan",
                    value=metric.above,
                    window=monitoring.WINDOW,
                    tags=[role_tag],
                    description=f"{tag}: {metric.name} of a {role} node above {metric.above:g}% for {monitoring.WINDOW}",
                    alerts=do.MonitorAlertAlertsArgs(
                        emails=list(spec.emails) or None,
                        slacks=[do.MonitorAlertAlertsSlackArgs(**slack)] if slack else None,
                    ),
                    enabled=True,
                    opts=child,
                )
        check = do.UptimeCheck(
            "site-check",
            name=naming.uptime_check_name(args.stack),
            target=args.url,
            type=pulumi.Output.from_input(args.url).apply(lambda u: u.split(":", 1)[0]),
            regions=list(monitoring.UPTIME_REGIONS),
            enabled=True,
            opts=child,
        )
        do.UptimeAlert(
            "site-down",
            name=f"{naming.uptime_check_name(args.stack)} is down",
            check_id=check.id,
            type="down_global",
            period=monitoring.UPTIME_PERIOD,
            notifications=[do.UptimeAlertNotificationArgs(
                emails=list(spec.emails) or None,
                slacks=[do.UptimeAlertNotificationSlackArgs(**slack)] if slack else None,
            )],
            opts=child,
        )
        self.register_outputs({"uptimeCheckId": check.id})
