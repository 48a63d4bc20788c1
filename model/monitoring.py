"""What the alerts watch: droplet metrics per role, and the site's URL from outside.

Fixed here rather than in the stack file: a stack chooses where alerts go
(`alerts`), not what counts as trouble.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    """DigitalOcean's alert type for the monitoring agent's metric."""
    above: float
    """Percent: the alert fires when the metric stays above it for WINDOW."""


METRICS: tuple[Metric, ...] = (
    Metric("cpu", "v1/insights/droplet/cpu", 90.0),
    Metric("memory", "v1/insights/droplet/memory_utilization_percent", 90.0),
    Metric("disk", "v1/insights/droplet/disk_utilization_percent", 85.0),
)
WINDOW = "5m"
UPTIME_REGIONS: tuple[str, ...] = ("us_east", "eu_west")
UPTIME_PERIOD = "2m"
"""How long the site must be down, as every region sees it, before the alert fires."""
