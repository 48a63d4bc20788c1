"""The DigitalOcean sizes and regions we accept, with what they cost.

Prices are DigitalOcean's list prices in USD per month; the plan and the
`monthlyCostUsd` output are estimates from this table, not a bill.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    slug: str
    vcpus: int
    memory_mb: int
    usd_month: float


SIZES: dict[str, Size] = {
    s.slug: s
    for s in (
        Size("s-1vcpu-512mb-10gb", 1, 512, 4.0),
        Size("s-1vcpu-1gb", 1, 1024, 6.0),
        Size("s-1vcpu-2gb", 1, 2048, 12.0),
        Size("s-2vcpu-2gb", 2, 2048, 18.0),
        Size("s-2vcpu-4gb", 2, 4096, 24.0),
        Size("s-4vcpu-8gb", 4, 8192, 48.0),
        Size("s-8vcpu-16gb", 8, 16384, 96.0),
        Size("c-2", 2, 4096, 42.0),
        Size("c-4", 4, 8192, 84.0),
        Size("c-8", 8, 16384, 168.0),
        Size("g-2vcpu-8gb", 2, 8192, 63.0),
        Size("g-4vcpu-16gb", 4, 16384, 126.0),
        Size("m-2vcpu-16gb", 2, 16384, 84.0),
        Size("m-4vcpu-32gb", 4, 32768, 168.0),
    )
}

REGIONS: tuple[str, ...] = (
    "ams3", "atl1", "blr1", "fra1", "lon1", "nyc1", "nyc3",
    "sfo2", "sfo3", "sgp1", "syd1", "tor1",
)
"""Regions that take new droplets (nyc2, ams2 and sfo1 no longer do)."""

SPACES_REGIONS: dict[str, str] = {
    **{r: r for r in ("ams3", "atl1", "blr1", "fra1", "lon1", "nyc3", "sfo2", "sfo3", "sgp1", "syd1", "tor1")},
    "nyc1": "nyc3",
}
"""The Spaces region a stack's bucket goes to: its own, or the nearest where a region has no Spaces."""

VOLUME_USD_PER_GB_MONTH = 0.10
SPACES_USD_MONTH = 5.0
"""A Spaces subscription: 250 GiB stored and 1 TiB out a month; every stack has its bucket."""
LOAD_BALANCER_USD_MONTH = 12.0
