"""One DigitalOcean account, which outlives any one stack: what it holds, and what its API refuses.

Every registration of a run is judged here before it is created, with what
a real engine guarantees exists at that moment: what the account held
before the run began, and what the resource's own dependencies created. A
registration order that happened to work under mocks is not enough, since
the engine creates a resource as soon as its inputs resolve. A refusal is
worded as DigitalOcean's API words it.
"""

from __future__ import annotations

import ipaddress
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sim import resources as r

RESERVED_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.244.0.0/16", "10.245.0.0/16", "10.246.0.0/24"))
"""Ranges DigitalOcean keeps for itself; no VPC may take them."""

_NAME_RULES: dict[str, tuple[re.Pattern[str], str]] = {
    r.FIREWALL: (re.compile(r"[a-zA-Z0-9][a-zA-Z0-9.-]{0,254}"), "name must start with a letter or digit and hold only letters, digits, '.' and '-'"),
    r.VPC: (re.compile(r"[a-zA-Z0-9.-]{1,255}"), "name must hold only letters, digits, '-' and '.'"),
    r.VOLUME: (re.compile(r"[a-z][a-z0-9-]{0,63}"), "name must be lowercase letters, digits and '-', start with a letter, and be at most 64 characters"),
    r.TAG: (re.compile(r"[a-zA-Z0-9:_-]{1,255}"), "tag names must hold only letters, digits, ':', '-' and '_', at most 255 characters"),
    r.DROPLET: (re.compile(r"[a-zA-Z0-9][a-zA-Z0-9.-]{0,254}"), "name must hold only letters, digits, '.' and '-'"),
    r.LOAD_BALANCER: (re.compile(r"[a-zA-Z0-9][a-zA-Z0-9.-]{0,254}"), "name must hold only letters, digits, '.' and '-'"),
}


BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
"""Spaces: 3 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit."""
MONITOR_ALERT_TYPES = frozenset({
    "v1/insights/droplet/load_1", "v1/insights/droplet/load_5", "v1/insights/droplet/load_15",
    "v1/insights/droplet/memory_utilization_percent", "v1/insights/droplet/disk_utilization_percent",
    "v1/insights/droplet/cpu", "v1/insights/droplet/disk_read", "v1/insights/droplet/disk_write",
    "v1/insights/droplet/public_outbound_bandwidth", "v1/insights/droplet/public_inbound_bandwidth",
    "v1/insights/droplet/private_outbound_bandwidth", "v1/insights/droplet/private_inbound_bandwidth",
})
MONITOR_WINDOWS = ("5m", "10m", "30m", "1h")
UPTIME_CHECK_TYPES = ("ping", "http", "https")
UPTIME_REGIONS = frozenset({"us_east", "us_west", "eu_west", "se_asia"})
UPTIME_ALERT_TYPES = ("latency", "down", "down_global", "ssl_expiry")
UPTIME_PERIODS = ("2m", "3m", "5m", "10m", "15m", "30m", "1h")
HEALTH_CHECK_RANGES: dict[str, tuple[str, int, int]] = {
    "checkIntervalSeconds": ("check_interval_seconds", 3, 300),
    "responseTimeoutSeconds": ("response_timeout_seconds", 3, 300),
    "healthyThreshold": ("healthy_threshold", 2, 10),
    "unhealthyThreshold": ("unhealthy_threshold", 2, 10),
}
"""A load balancer's health check: input -> (the API's field, least, most), bounds included, as the provider's schema
has them (terraform-provider-digitalocean, digitalocean/loadbalancer/resource_loadbalancer.go)."""


class ApiRefusal(Exception):
    """What DigitalOcean answers instead of creating: the status, its error id and its message."""

    def __init__(self, token: str, name: str, status: int, error_id: str, message: str):
        self.token, self.name, self.status, self.error_id, self.message = token, name, status, error_id, message
        super().__init__(f"DigitalOcean refused {r.resource_type(token).short} {name}: {status} {error_id}: {message}")


def _unprocessable(token: str, name: str, message: str) -> ApiRefusal:
    return ApiRefusal(token, name, 422, "unprocessable_entity", message)


@dataclass
class Holding:
    """One resource the account holds, and the stack that made it."""

    stack: str
    token: str
    name: str
    """The resource's name in its stack's program (the engine's, not DigitalOcean's)."""
    facts: dict[str, Any] = field(default_factory=dict)
    """What other stacks' registrations are judged against: a tag's name, a key's fingerprint, a VPC's range and name."""


@dataclass
class Account:
    holdings: list[Holding] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @classmethod
    def with_keys(cls, public_keys: Iterable[str]) -> Account:
        """An account where these SSH keys were registered by hand, before any stack."""
        account = cls()
        for key in public_keys:
            account.register_key(key)
        return account

    def register_key(self, public_key: str) -> None:
        """A key added by hand, in DigitalOcean's panel: it belongs to no stack."""
        fingerprint = r.fingerprint(public_key)
        with self.lock:
            if not any(h.facts.get("fingerprint") == fingerprint for h in self.holdings):
                self.holdings.append(Holding("", r.SSH_KEY, f"key-{fingerprint}", {"fingerprint": fingerprint}))

    def unregister_key(self, public_key: str) -> None:
        fingerprint = r.fingerprint(public_key)
        with self.lock:
            self.holdings = [h for h in self.holdings if h.facts.get("fingerprint") != fingerprint or h.stack]

    # -- persistence, for an account that outlives a process ------------------

    @classmethod
    def load(cls, path: Path) -> Account:
        if not path.is_file():
            return cls()
        return cls([Holding(**h) for h in json.loads(path.read_text())["holdings"]])

    def save(self, path: Path) -> None:
        with self.lock:
            body = json.dumps({"holdings": [asdict(h) for h in self.holdings]}, indent=1, sort_keys=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body + "\n")

    def forget(self, stack: str) -> None:
        """A stack was destroyed: what it made is gone from the account.

        Tags stay, as DigitalOcean keeps them, and so does the Spaces bucket,
        which the program retains on delete with the backups in it. Keys
        registered by hand belong to no stack, so no stack's end takes them away.
        """
        kept = (r.TAG, r.SPACES_BUCKET)
        with self.lock:
            self.holdings = [h for h in self.holdings if not h.stack or h.stack != stack or h.token in kept]

    # -- what a run sees -------------------------------------------------------

    def tags(self) -> frozenset[str]:
        with self.lock:
            return frozenset(h.facts["tag"] for h in self.holdings if "tag" in h.facts) | frozenset(
                t for h in self.holdings for t in h.facts.get("tags", ())
            )

    def _others(self, stack: str, token: str, name: str) -> list[Holding]:
        """Holdings of the same type that are not this very resource (an update is not a second one)."""
        with self.lock:
            return [h for h in self.holdings if h.token == token and (h.stack, h.name) != (stack, name)]

    def judge(self, stack: str, token: str, name: str, inputs: Mapping[str, Any], tags_that_exist: frozenset[str]) -> None:
        """Raise ApiRefusal where DigitalOcean would refuse to create this resource now."""
        self._judge_name(token, name, inputs)
        if token == r.FIREWALL:
            for rule in [*(inputs.get("inboundRules") or []), *(inputs.get("outboundRules") or [])]:
                for tag in [*(rule.get("sourceTags") or []), *(rule.get("destinationTags") or [])]:
                    if tag not in tags_that_exist:
                        raise _unprocessable(token, name, f"tag {tag} does not exist")
        elif token == r.SSH_KEY:
            fingerprint = r.fingerprint(str(inputs["publicKey"]))
            if any(h.facts.get("fingerprint") == fingerprint for h in self._others(stack, token, name)):
                raise _unprocessable(token, name, "SSH Key is already in use on your account")
        elif token == r.VPC:
            self._judge_vpc(stack, name, inputs)
        elif token == r.SPACES_BUCKET:
            self._judge_bucket(stack, name, inputs)
        elif token == r.MONITOR_ALERT:
            self._judge_monitor_alert(name, inputs)
        elif token in (r.UPTIME_CHECK, r.UPTIME_ALERT):
            self._judge_uptime(token, name, inputs)
        elif token == r.LOAD_BALANCER:
            self._judge_health_check(name, inputs)

    def _judge_bucket(self, stack: str, name: str, inputs: Mapping[str, Any]) -> None:
        """Spaces answers in S3's words; a bucket's name is unique across every account, ours included."""
        bucket = str(inputs.get("name"))
        if not BUCKET_NAME.fullmatch(bucket):
            raise ApiRefusal(r.SPACES_BUCKET, name, 400, "InvalidBucketName", f"The specified bucket is not valid: {bucket!r}")
        if any(h.facts.get("bucket") == bucket for h in self._others(stack, r.SPACES_BUCKET, name)):
            raise ApiRefusal(
                r.SPACES_BUCKET, name, 409, "BucketAlreadyExists",
                "The requested bucket name is not available. The bucket namespace is shared by all users of the system. "
                "Please select a different name and try again.",
            )

    def _judge_monitor_alert(self, name: str, inputs: Mapping[str, Any]) -> None:
        if inputs.get("type") not in MONITOR_ALERT_TYPES:
            raise _unprocessable(r.MONITOR_ALERT, name, f"type {inputs.get('type')!r} is not a valid alert type")
        if inputs.get("compare") not in ("GreaterThan", "LessThan"):
            raise _unprocessable(r.MONITOR_ALERT, name, "compare must be one of GreaterThan, LessThan")
        if inputs.get("window") not in MONITOR_WINDOWS:
            raise _unprocessable(r.MONITOR_ALERT, name, f"window must be one of {', '.join(MONITOR_WINDOWS)}")
        alerts = inputs.get("alerts") or {}
        if not (alerts.get("emails") or alerts.get("slacks")):
            raise _unprocessable(r.MONITOR_ALERT, name, "alerts must name at least one email or slack channel")

    def _judge_uptime(self, token: str, name: str, inputs: Mapping[str, Any]) -> None:
        if token == r.UPTIME_CHECK:
            if inputs.get("type", "https") not in UPTIME_CHECK_TYPES:
                raise _unprocessable(token, name, f"type must be one of {', '.join(UPTIME_CHECK_TYPES)}")
            bad = set(inputs.get("regions") or []) - UPTIME_REGIONS
            if bad:
                raise _unprocessable(token, name, f"regions must be among {', '.join(sorted(UPTIME_REGIONS))}")
            return
        if inputs.get("type") not in UPTIME_ALERT_TYPES:
            raise _unprocessable(token, name, f"type must be one of {', '.join(UPTIME_ALERT_TYPES)}")
        if "period" in inputs and inputs["period"] not in UPTIME_PERIODS:
            raise _unprocessable(token, name, f"period must be one of {', '.join(UPTIME_PERIODS)}")
        notifications = inputs.get("notifications") or []
        if not any(n.get("emails") or n.get("slacks") for n in notifications):
            raise _unprocessable(token, name, "notifications must name at least one email or slack channel")

    def _judge_health_check(self, name: str, inputs: Mapping[str, Any]) -> None:
        check = inputs.get("healthcheck") or {}
        for key, (field_name, least, most) in HEALTH_CHECK_RANGES.items():
            if key in check and not least <= check[key] <= most:
                raise _unprocessable(
                    r.LOAD_BALANCER, name, f"health_check {field_name} must be between {least} and {most}: {check[key]!r}"
                )

    def _judge_name(self, token: str, name: str, inputs: Mapping[str, Any]) -> None:
        rule = _NAME_RULES.get(token)
        if rule is None:
            return
        pattern, message = rule
        for value in (inputs.get("tags") or []) if token == r.DROPLET else ():
            self._judge_name(r.TAG, name, {"name": value})
        if "name" in inputs and not pattern.fullmatch(str(inputs["name"])):
            raise _unprocessable(token, name, f"{message}: {inputs['name']!r}")

    def _judge_vpc(self, stack: str, name: str, inputs: Mapping[str, Any]) -> None:
        network = ipaddress.IPv4Network(str(inputs["ipRange"]))
        if any(network.overlaps(reserved) for reserved in RESERVED_RANGES):
            raise _unprocessable(r.VPC, name, f"ip_range {network} overlaps a range reserved by DigitalOcean")
        for other in self._others(stack, r.VPC, name):
            if network.overlaps(ipaddress.IPv4Network(other.facts["range"])):
                raise _unprocessable(r.VPC, name, f"ip_range {network} overlaps with VPC {other.facts['vpc']} ({other.facts['range']}) in your account")
            if other.facts["vpc"] == inputs.get("name"):
                raise _unprocessable(r.VPC, name, f"a VPC named {inputs['name']} already exists in your account")

    def hold(self, stack: str, token: str, name: str, inputs: Mapping[str, Any]) -> None:
        """Record what a created resource means to later registrations, in this stack or another."""
        facts: dict[str, Any] = {}
        if token == r.TAG:
            facts["tag"] = str(inputs["name"])
        elif token == r.DROPLET:
            facts["tags"] = sorted(str(t) for t in inputs.get("tags") or [])
        elif token == r.SSH_KEY:
            facts["fingerprint"] = r.fingerprint(str(inputs["publicKey"]))
        elif token == r.VPC:
            facts.update(range=str(inputs["ipRange"]), vpc=str(inputs.get("name")))
        elif token == r.SPACES_BUCKET:
            facts["bucket"] = str(inputs["name"])
        else:
            return
        with self.lock:
            self.holdings = [h for h in self.holdings if (h.stack, h.token, h.name) != (stack, token, name)]
            self.holdings.append(Holding(stack, token, name, facts))
