"""The site's name in DigitalOcean DNS: one A record per public address."""

from __future__ import annotations

from collections.abc import Sequence

import pulumi
import pulumi_digitalocean as do

from model.dns import zone_and_record


def declare_a_records(domain: str, addresses: Sequence[pulumi.Input[str]], parent: pulumi.Resource) -> list[do.DnsRecord]:
    zone, record = zone_and_record(domain)
    return [
        do.DnsRecord(
            f"a-record-{i}", domain=zone, type="A", name=record, value=ip, ttl=300,
            opts=pulumi.ResourceOptions(parent=parent),
        )
        for i, ip in enumerate(addresses, start=1)
    ]
