"""The invariants the tests hold the program to, as rules a user's `pulumi preview --policy-pack policy` enforces.

The Pulumi CLI runs this pack on its own, in its own virtualenv with only
pulumi-policy, so it imports nothing of the program: the ports below are the
ones model/roles.py gives the roles (a test keeps them equal), the types are
DigitalOcean's. A message names the resource, never the value it flags.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

DROPLET = "digitalocean:index/droplet:Droplet"
FIREWALL = "digitalocean:index/firewall:Firewall"
VOLUME = "digitalocean:index/volume:Volume"
VPC = "digitalocean:index/vpc:Vpc"

INTERNAL_PORTS: dict[int, str] = {5432: "PostgreSQL", 6432: "PgBouncer", 11211: "memcached", 8000: "the app"}
"""What listens behind the web tier: only its consumers' tags may reach these."""
ALL_PORTS = ("", "0", "all", "1-65535")
"""How a firewall rule says every port."""

SECRET_LOOKING: dict[str, re.Pattern[str]] = {
    "a private key": re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
    "a password in a URL": re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s/:@]+:[^\s/@]+@", re.I),
    "a DigitalOcean token": re.compile(r"\bdo[opr]_v1_[0-9a-f]{64}\b"),
    "an AWS access key": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a secret assignment": re.compile(
        r"\b[a-z0-9_]*(?:password|passwd|secret|secret_key|token|api_key)[ \t]*[=:][ \t]*['\"]?"
        r"(?!\$)(?!(?:true|false|yes|no|none|null)\b)[^\s'\"]{6,}",
        re.I,
    ),
}
"""Shapes of values that must travel as Pulumi secrets on a step's stdin, never in user-data."""


def _ports(port_range: str) -> range:
    """The ports of a rule's `portRange`: one port, `low-high`, or every port."""
    text = str(port_range).strip()
    if text in ALL_PORTS:
        return range(1, 65536)
    low, _, high = text.partition("-")
    return range(int(low), int(high or low) + 1)


def _everyone(address: str) -> bool:
    """0.0.0.0/0, ::/0, or any spelling of them."""
    try:
        return ipaddress.ip_network(address, strict=False).prefixlen == 0
    except ValueError:
        return False


def _no_internal_port_from_the_world(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != FIREWALL:
        return
    for rule in args.props.get("inboundRules") or []:
        if rule.get("protocol") not in ("tcp", "udp"):
            continue
        world = sorted(a for a in rule.get("sourceAddresses") or [] if _everyone(a))
        ports = _ports(rule.get("portRange", ""))
        for port, service in INTERNAL_PORTS.items():
            if world and port in ports:
                report_violation(
                    f"firewall {args.name} lets {', '.join(world)} reach {rule['protocol']} port {port} ({service}); "
                    "only its consumers' tags may"
                )


def _data_volume_protected(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == VOLUME and not args.opts.protect:
        report_violation(f"volume {args.name} holds the database and is not protected from deletion")


def _monitoring_on(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type == DROPLET and args.props.get("monitoring") is not True:
        report_violation(f"droplet {args.name} has monitoring off: alerts need it on from creation")


def _no_secret_in_user_data(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
    if args.resource_type != DROPLET:
        return
    user_data = args.props.get("userData") or ""
    for line_number, line in enumerate(str(user_data).splitlines(), start=1):
        for what, pattern in SECRET_LOOKING.items():
            if pattern.search(line):
                report_violation(
                    f"droplet {args.name}'s user-data holds what looks like {what} on line {line_number}; "
                    "secrets go to the nodes on a step's stdin"
                )


def _vpcs(resources: list[Any]) -> set[str]:
    return {r.urn for r in resources if r.resource_type == VPC}


def _droplets_in_the_stack_vpc(args: StackValidationArgs, report_violation: ReportViolation) -> None:
    vpcs = _vpcs(args.resources)
    for r in args.resources:
        if r.resource_type != DROPLET:
            continue
        sources: Mapping[str, list[Any]] = r.property_dependencies
        if not any(dep.urn in vpcs for dep in sources.get("vpcUuid", [])):
            report_violation(f"droplet {r.name} is not in a VPC this stack declares: its vpcUuid must be that VPC's id", r.urn)


POLICIES = [
    ResourceValidationPolicy(
        name="no-internal-port-from-the-internet",
        description="No firewall lets 0.0.0.0/0 or ::/0 reach PostgreSQL, memcached or the app.",
        validate=_no_internal_port_from_the_world,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="data-volume-protected",
        description="The volume that holds the database is protected from deletion.",
        validate=_data_volume_protected,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    StackValidationPolicy(
        name="droplet-in-stack-vpc",
        description="Every droplet is in the VPC its stack declares.",
        validate=_droplets_in_the_stack_vpc,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="droplet-monitoring-on",
        description="Every droplet has monitoring on.",
        validate=_monitoring_on,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
    ResourceValidationPolicy(
        name="no-secret-in-user-data",
        description="No droplet's user-data holds a secret-looking value.",
        validate=_no_secret_in_user_data,
        enforcement_level=EnforcementLevel.MANDATORY,
    ),
]
