"""The stack's configuration, parsed once into frozen dataclasses.

Everything is checked here, before the program registers a resource, so a
mistake costs the user one clear message and never a half-built stack.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_private_key,
    load_ssh_private_key,
    load_ssh_public_key,
)

from model.project import PROJECT as NAMESPACE
from model.roles import ROLES, Role
from model.sizes import REGIONS, SIZES

SECRETS: tuple[str, ...] = ("dbPassword", "secretKey", "sshPrivateKey")

TIER_DEFAULTS: dict[Role, dict[str, object]] = {
    Role.WEB: {"count": 1, "size": "s-1vcpu-1gb"},
    Role.APP: {"count": 1, "size": "s-1vcpu-2gb"},
    Role.CACHE: {"count": 1, "size": "s-1vcpu-1gb"},
    Role.DB: {"size": "s-1vcpu-2gb", "volumeGb": 10},
}
CUSTOM_GROUP_SIZE = "s-1vcpu-2gb"
DEFAULT_APP = {
    "source": "demo",
    "wsgi": "demo_site.wsgi:application",
    "settings": "demo_site.settings",
    "requirements": "requirements.txt",
}
DEFAULT_SMOKE_PATHS = ("/",)
SMOKE_PATHS_MAX = 20
_SMOKE_PATH = re.compile(r"/[!-~]{0,199}")
KEYS: tuple[str, ...] = (
    "layout", "tiers", "nodes", "region", "image", "vpcCidr", "adminCidrs", "adminCidrsWide",
    "sshPublicKeys", "domain", "loadBalancer", "app", "backups", "alerts",
) + SECRETS
STRUCTURED_KEYS = frozenset({
    "tiers", "nodes", "adminCidrs", "adminCidrsWide", "sshPublicKeys", "loadBalancer", "app", "backups", "alerts",
})
ADMIN_MIN_PREFIX = {4: 16, 6: 48}
"""The widest admin network allowed without adminCidrsWide: a site's, not a slice of the internet."""

_GROUP_NAME = re.compile(r"[a-z][a-z0-9]{0,19}")
_DOMAIN = re.compile(r"(?=.{1,253}\Z)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}")
_IMAGE = re.compile(r"[a-z0-9][a-z0-9.-]*")
_ONE_LINE = re.compile(r"[^\x00-\x1f\x7f]+")
_MODULE = r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*"
_APP_PATTERNS: dict[str, tuple[re.Pattern[str], str]] = {
    "settings": (re.compile(_MODULE), "a dotted Python module path such as mysite.settings"),
    "wsgi": (re.compile(rf"{_MODULE}:[A-Za-z_][A-Za-z0-9_]*"), "module:callable, such as mysite.wsgi:application"),
    "source": (_ONE_LINE, "a directory path on one line"),
    "requirements": (_ONE_LINE, "a file path on one line"),
}
RESERVED_VPC_RANGES = tuple(ipaddress.IPv4Network(n) for n in ("10.244.0.0/16", "10.245.0.0/16", "10.246.0.0/24"))
"""DigitalOcean keeps these for itself; a VPC may not overlap them."""
VPC_RESERVED_ADDRESSES = 3
"""A VPC's network and broadcast addresses, and its gateway, are not the droplets'."""
VPC_RESOURCE_LIMIT = 10_000
"""DigitalOcean's limit on what one VPC holds, whatever its size."""
_VOLUME_GB = (1, 16384)
BACKUP_SCHEDULES: dict[str, str] = {
    "hourly": "*-*-* *:15:00 UTC",
    "daily": "*-*-* 01:15:00 UTC",
    "weekly": "Sun *-*-* 01:15:00 UTC",
}
"""A full base backup's systemd calendar; 01:15 stays clear of the nodes' reboot slots from 02:00."""
BACKUP_DEFAULTS: dict[str, object] = {"schedule": "daily", "retentionFull": 7}
RETENTION_FULL = (1, 9999999)
"""pgBackRest's bounds on repo-retention-full."""
BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")
"""A Spaces bucket's name: 3 to 63 lowercase letters, digits and `-`, a letter or digit at each end."""
_EMAIL = re.compile(r"[^@\s,]+@[a-z0-9-]+(\.[a-z0-9-]+)+", re.IGNORECASE)
_SLACK_CHANNEL = re.compile(r"#[a-z0-9][a-z0-9._-]{0,79}")
_SLACK_WEBHOOK = re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]+")


class ConfigError(ValueError):
    """One bad value: which key, what it was, and what would be accepted."""

    def __init__(self, key: str, value: object, allowed: str):
        self.key, self.value, self.allowed = key, value, allowed
        super().__init__(f"config {NAMESPACE}:{key} = {value!r} is not valid: {allowed}")


class MissingSecretError(ConfigError):
    def __init__(self, key: str):
        super().__init__(
            key,
            None,
            f"this secret is required; set it with "
            f"`pulumi config set --secret {NAMESPACE}:{key} <value>`",
        )


@dataclass(frozen=True)
class Layout:
    """What a layout means: its groups (from `tiers`), or None where the stack file names them (`nodes`)."""

    name: str
    groups: tuple[tuple[str, tuple[Role, ...], Role], ...] | None
    """(group, the roles its nodes carry, the tier whose count and size it takes)."""
    single_nodes: bool
    """Every group has exactly one node, so a colocated consumer can use loopback."""
    always_balanced: bool
    """A load balancer always; otherwise one by default when more than one node serves web."""


_BOX = (Role.WEB, Role.APP, Role.CACHE)
_ONE_PER_ROLE = tuple((str(role), (role,), role) for role in ROLES)
LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("onebox", (("box", ROLES, Role.APP),), single_nodes=True, always_balanced=False),
        Layout("dbsplit", (("box", _BOX, Role.APP), ("db", (Role.DB,), Role.DB)), single_nodes=True, always_balanced=False),
        Layout("split", _ONE_PER_ROLE, single_nodes=False, always_balanced=False),
        Layout("pool", _ONE_PER_ROLE, single_nodes=False, always_balanced=True),
        Layout("custom", None, single_nodes=False, always_balanced=False),
    )
}


@dataclass(frozen=True)
class GroupSpec:
    """A set of identical nodes: the roles each one carries, how many, how big."""

    name: str
    roles: tuple[Role, ...]
    count: int
    size: str
    single: bool
    """The group can only ever hold one node: the db group, or any group of a single-node layout."""
    count_key: str
    """The config key its count comes from, for messages."""


@dataclass(frozen=True)
class AppSpec:
    """Where the Django project lives and how to start it."""

    source: str
    wsgi: str
    settings: str
    requirements: str
    smoke_paths: tuple[str, ...] = DEFAULT_SMOKE_PATHS
    """Pages fetched through each app node right after it switches to a release; a 5xx switches it back."""


@dataclass(frozen=True)
class BackupSpec:
    """Base backups on a schedule, WAL archived between them, into the stack's bucket."""

    schedule: str
    """The schedule's name as the stack file gives it."""
    retention_full: int
    """How many full backups pgBackRest keeps, with the WAL to replay from each."""
    restore_from: tuple[str, ...] = ()
    """Other stacks' buckets this stack's key may read, to restore from."""

    @property
    def on_calendar(self) -> str:
        return BACKUP_SCHEDULES[self.schedule]


@dataclass(frozen=True)
class AlertSpec:
    """Where alerts go: e-mail addresses, a Slack channel through its webhook, or both."""

    emails: tuple[str, ...]
    slack_channel: str | None
    slack_url: str | None
    """A webhook URL is a credential: the components carry it as a secret."""


@dataclass(frozen=True)
class SiteConfig:
    stack: str
    layout: str
    groups: tuple[GroupSpec, ...]
    db_volume_gb: int
    region: str
    image: str
    vpc_cidr: str
    admin_cidrs: tuple[str, ...]
    ssh_public_keys: tuple[str, ...]
    domain: str | None
    load_balancer: bool
    app: AppSpec
    backups: BackupSpec = BackupSpec(str(BACKUP_DEFAULTS["schedule"]), int(BACKUP_DEFAULTS["retentionFull"]))
    alerts: AlertSpec | None = None
    """None: no alert and no uptime check, when the stack file has no `alerts`."""

    def groups_with(self, role: Role) -> tuple[GroupSpec, ...]:
        return tuple(g for g in self.groups if role in g.roles)


def deploy_public_key(private_key: str) -> str:
    """The OpenSSH public half of the key the deploy steps connect with; the key itself is never shown."""
    data = private_key.strip().encode() + b"\n"
    for load in (load_ssh_private_key, load_pem_private_key):
        try:
            key = load(data, password=None)
            return key.public_key().public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()
        except (ValueError, TypeError, UnsupportedAlgorithm):
            continue
    raise ConfigError(
        "sshPrivateKey", "<secret, not shown>",
        "an unencrypted OpenSSH or PEM private key; set it with "
        f"`pulumi config set --secret {NAMESPACE}:sshPrivateKey < ~/.ssh/id_ed25519`",
    )


def parse_config(raw: Mapping[str, object], stack: str, deploy_key: str | None = None) -> SiteConfig:
    """Turn the stack's raw values (JSON-decoded) into a checked SiteConfig.

    `deploy_key` is the public half of sshPrivateKey: it always goes on the
    nodes, so the deploy steps can reach them, ahead of sshPublicKeys.
    """
    for key in raw:
        if key not in KEYS:
            raise ConfigError(key, raw[key], f"unknown key; known keys are {', '.join(KEYS)}")
    layout = LAYOUTS[_one_of(raw, "layout", "onebox", tuple(LAYOUTS))]
    groups = _groups(raw, layout)
    db_volume_gb = _volume_gb(raw)
    public = sum(g.count for g in groups if Role.WEB in g.roles)
    load_balancer = _bool(raw, "loadBalancer", layout.always_balanced or public > 1)
    if layout.always_balanced and not load_balancer:
        raise ConfigError(
            "loadBalancer", False, f"the {layout.name} layout always has a load balancer; use split for one without"
        )
    domain = _domain(raw)
    if domain and not load_balancer and public > 1:
        raise ConfigError(
            "loadBalancer", False,
            f"true with a domain and {public} web nodes: each node would ask Let's Encrypt for the same name, "
            "and only the one the A record happens to point at would get it; the load balancer holds the "
            "certificate instead",
        )
    vpc_cidr = _vpc_cidr(raw)
    _check_room(groups, vpc_cidr, load_balancer)
    return SiteConfig(
        stack=stack,
        layout=layout.name,
        groups=groups,
        db_volume_gb=db_volume_gb,
        region=_one_of(raw, "region", "nyc3", REGIONS),
        image=_image(raw),
        vpc_cidr=vpc_cidr,
        admin_cidrs=_admin_cidrs(raw),
        ssh_public_keys=_ssh_keys(raw, deploy_key),
        domain=domain,
        load_balancer=load_balancer,
        app=_app(raw),
        backups=_backups(raw),
        alerts=_alerts(raw),
    )


SECRET_SHAPES: dict[str, tuple[str, str]] = {
    "dbPassword": (r"[!-~]{8,}", "at least 8 printable ASCII characters without spaces"),
    "secretKey": (r"[ -~]{50,}", "at least 50 printable ASCII characters on one line (Django warns below 50)"),
}


def check_secrets(values: Mapping[str, str | None]) -> None:
    """Every secret is set and has a shape the nodes can take; a bad one is named, never shown."""
    for key in SECRETS:
        if not values.get(key):
            raise MissingSecretError(key)
        if key in SECRET_SHAPES and not re.fullmatch(SECRET_SHAPES[key][0], values[key]):
            raise ConfigError(key, "<secret, not shown>", SECRET_SHAPES[key][1])


def _one_of(raw: Mapping[str, object], key: str, default: str, allowed: tuple[str, ...]) -> str:
    value = raw.get(key, default)
    if value not in allowed:
        raise ConfigError(key, value, f"one of {', '.join(allowed)}")
    return str(value)


def _bool(raw: Mapping[str, object], key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(key, value, "true or false")
    return value


def _mapping(value: object, key: str, allowed_keys: tuple[str, ...] | None = None) -> Mapping[str, object]:
    if not isinstance(value, Mapping):
        raise ConfigError(key, value, "an object" + (f" with keys {', '.join(allowed_keys)}" if allowed_keys else ""))
    if allowed_keys is not None:
        for k in value:
            if k not in allowed_keys:
                raise ConfigError(f"{key}.{k}", value[k], f"unknown key; allowed keys are {', '.join(allowed_keys)}")
    return value


def _count(value: object, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(key, value, "a whole number of at least 1")
    return value


def _size(value: object, key: str) -> str:
    if value not in SIZES:
        raise ConfigError(key, value, f"a DigitalOcean size slug, one of {', '.join(SIZES)}")
    return str(value)


def _tier(tiers: Mapping[str, object], role: Role) -> dict[str, object]:
    allowed = tuple(TIER_DEFAULTS[role])
    given = _mapping(tiers.get(role, {}), f"tiers.{role}", allowed)
    return {**TIER_DEFAULTS[role], **given}


def _groups(raw: Mapping[str, object], layout: Layout) -> tuple[GroupSpec, ...]:
    if layout.groups is None:
        tiers = _mapping(raw.get("tiers", {}), "tiers", (Role.DB,))
        _mapping(tiers.get(Role.DB, {}), "tiers.db", ("volumeGb",))
        return _custom_groups(raw, layout)
    if "nodes" in raw:
        raise ConfigError("nodes", raw["nodes"], f"only used with layout custom, not {layout.name}")
    tiers = _mapping(raw.get("tiers", {}), "tiers", ROLES)
    t = {role: _tier(tiers, role) for role in ROLES}
    scaled = tuple(role for role in ROLES if "count" in TIER_DEFAULTS[role])
    for role in ROLES:
        if role in scaled:
            t[role]["count"] = _count(t[role]["count"], f"tiers.{role}.count")
        t[role]["size"] = _size(t[role]["size"], f"tiers.{role}.size")
    if layout.single_nodes:
        for role in scaled:
            if t[role]["count"] != 1:
                raise ConfigError(
                    f"tiers.{role}.count", t[role]["count"],
                    f"exactly 1 in layout {layout.name}; use split or pool to run more than one {role} node",
                )
    return tuple(
        GroupSpec(
            name, roles, int(t[tier].get("count", 1)), str(t[tier]["size"]),
            single=layout.single_nodes or Role.DB in roles,
            count_key=f"tiers.{tier}.count",
        )
        for name, roles, tier in layout.groups
    )


def _custom_groups(raw: Mapping[str, object], layout: Layout) -> tuple[GroupSpec, ...]:
    if "nodes" not in raw:
        raise ConfigError("nodes", None, "required with layout custom: {<group>: {roles: [...], count, size}}")
    nodes = _mapping(raw["nodes"], "nodes")
    if not nodes:
        raise ConfigError("nodes", dict(nodes), "at least one group")
    groups = []
    for name, spec in nodes.items():
        if not _GROUP_NAME.fullmatch(str(name)):
            raise ConfigError(f"nodes.{name}", spec, "a group name of lowercase letters and digits, starting with a letter, at most 20 characters")
        spec = _mapping(spec, f"nodes.{name}", ("roles", "count", "size"))
        roles = spec.get("roles")
        if not isinstance(roles, list) or not roles or any(r not in ROLES for r in roles) or len(set(roles)) != len(roles):
            raise ConfigError(f"nodes.{name}.roles", roles, f"a non-empty list without repeats of {', '.join(ROLES)}")
        count = _count(spec.get("count", 1), f"nodes.{name}.count")
        size = _size(spec.get("size", CUSTOM_GROUP_SIZE), f"nodes.{name}.size")
        carried = tuple(r for r in ROLES if r in roles)
        groups.append(GroupSpec(
            str(name), carried, count, size,
            single=layout.single_nodes or Role.DB in carried, count_key=f"nodes.{name}.count",
        ))
    for role in ROLES:
        if not any(role in g.roles for g in groups):
            raise ConfigError("nodes", dict(nodes), f"every role must be in some group; no group carries {role}")
    db_groups = [g for g in groups if Role.DB in g.roles]
    if len(db_groups) > 1:
        raise ConfigError("nodes", dict(nodes), f"exactly one group carries db; found {', '.join(g.name for g in db_groups)}")
    if db_groups[0].count != 1:
        raise ConfigError(f"nodes.{db_groups[0].name}.count", db_groups[0].count, "1: the group carrying db has exactly one node")
    return tuple(groups)


def _volume_gb(raw: Mapping[str, object]) -> int:
    """Read after _groups, which has checked that tiers and tiers.db are objects."""
    value = raw.get("tiers", {}).get(Role.DB, {}).get("volumeGb", TIER_DEFAULTS[Role.DB]["volumeGb"])
    lo, hi = _VOLUME_GB
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError("tiers.db.volumeGb", value, f"a whole number of GB from {lo} to {hi}")
    return value


def _image(raw: Mapping[str, object]) -> str:
    value = raw.get("image", "debian-12-x64")
    if not isinstance(value, str) or not _IMAGE.fullmatch(value):
        raise ConfigError("image", value, "a DigitalOcean image slug such as debian-12-x64")
    return value


def _vpc_cidr(raw: Mapping[str, object]) -> str:
    value = raw.get("vpcCidr", "10.10.0.0/24")
    allowed = "a private IPv4 network (RFC 1918) from /16 to /24, written with its network address, such as 10.10.0.0/24"
    try:
        net = ipaddress.IPv4Network(str(value), strict=True)
    except ValueError:
        raise ConfigError("vpcCidr", value, allowed) from None
    if not isinstance(value, str) or not net.is_private or not 16 <= net.prefixlen <= 24:
        raise ConfigError("vpcCidr", value, allowed)
    for reserved in RESERVED_VPC_RANGES:
        if net.overlaps(reserved):
            raise ConfigError("vpcCidr", value, f"{allowed}; not overlapping {reserved}, which DigitalOcean reserves")
    return str(net)


def _check_room(groups: tuple[GroupSpec, ...], vpc_cidr: str, load_balancer: bool) -> None:
    """Every droplet, and the load balancer, takes an address of the VPC: the counts must fit in it."""
    room = min(ipaddress.IPv4Network(vpc_cidr).num_addresses - VPC_RESERVED_ADDRESSES, VPC_RESOURCE_LIMIT)
    wanted = sum(g.count for g in groups) + (1 if load_balancer else 0)
    if wanted > room:
        largest = max(groups, key=lambda g: g.count)
        others = wanted - largest.count
        raise ConfigError(
            largest.count_key, largest.count,
            f"at most {room - others}: vpcCidr {vpc_cidr} holds {room} droplets and load balancers, "
            f"and the rest of the layout takes {others}; use a larger vpcCidr or fewer nodes",
        )


def _string_list(raw: Mapping[str, object], key: str, may_be_empty: bool = False) -> list[str]:
    value = raw.get(key, [] if may_be_empty else None)
    if not isinstance(value, list) or not (value or may_be_empty) or not all(isinstance(v, str) for v in value):
        raise ConfigError(key, value, "a list of strings" if may_be_empty else "a non-empty list of strings")
    return value


def _admin_cidrs(raw: Mapping[str, object]) -> tuple[str, ...]:
    """SSH's sources. Two halves of the internet are the internet: every network is held to a minimum prefix."""
    wide = _bool(raw, "adminCidrsWide", False)
    out = []
    for i, value in enumerate(_string_list(raw, "adminCidrs")):
        try:
            net = ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise ConfigError(f"adminCidrs[{i}]", value, "an IPv4 or IPv6 network such as 203.0.113.7/32") from None
        if net.prefixlen == 0:
            raise ConfigError(f"adminCidrs[{i}]", value, "a network narrower than the whole internet")
        least = ADMIN_MIN_PREFIX[net.version]
        if net.prefixlen < least and not wide:
            raise ConfigError(
                f"adminCidrs[{i}]", value,
                f"an IPv{net.version} network of /{least} or narrower; "
                f"set {NAMESPACE}:adminCidrsWide to true to open SSH to wider ranges on purpose",
            )
        out.append(str(net))
    return tuple(out)


def _key_material(line: str) -> str:
    """A public key without its comment: two lines with the same material are one key."""
    return " ".join(line.split()[:2])


def _ssh_keys(raw: Mapping[str, object], deploy_key: str | None) -> tuple[str, ...]:
    out = [deploy_key] if deploy_key else []
    for i, value in enumerate(_string_list(raw, "sshPublicKeys", may_be_empty=True)):
        line = value.strip()
        try:
            if not _ONE_LINE.fullmatch(line):
                raise ValueError(line)
            load_ssh_public_key(line.encode())
        except (ValueError, TypeError, UnsupportedAlgorithm):
            raise ConfigError(
                f"sshPublicKeys[{i}]", value,
                "an OpenSSH public key line such as 'ssh-ed25519 AAAA... you@host'",
            ) from None
        if _key_material(line) not in {_key_material(k) for k in out}:
            out.append(line)
    if not out:
        raise ConfigError("sshPublicKeys", raw.get("sshPublicKeys"), "at least one public key when no sshPrivateKey is set")
    return tuple(out)


def _domain(raw: Mapping[str, object]) -> str | None:
    value = raw.get("domain")
    if value is None:
        return None
    if not isinstance(value, str) or not _DOMAIN.fullmatch(value):
        raise ConfigError("domain", value, "a lowercase DNS name such as www.example.com, in a zone hosted on DigitalOcean DNS")
    return value


def _app(raw: Mapping[str, object]) -> AppSpec:
    given = dict(_mapping(raw.get("app", {}), "app", (*DEFAULT_APP, "smokePaths")))
    smoke = given.pop("smokePaths", list(DEFAULT_SMOKE_PATHS))
    merged = {**DEFAULT_APP, **given}
    for k, v in merged.items():
        pattern, allowed = _APP_PATTERNS[k]
        if not isinstance(v, str) or not pattern.fullmatch(v):
            raise ConfigError(f"app.{k}", v, allowed)
    allowed = (
        f"a list of 1 to {SMOKE_PATHS_MAX} URL paths, each starting with / and holding no space or control character "
        "(at most 200 characters), such as [\"/\", \"/about/\"]"
    )
    if not isinstance(smoke, list) or not 1 <= len(smoke) <= SMOKE_PATHS_MAX:
        raise ConfigError("app.smokePaths", smoke, allowed)
    for i, path in enumerate(smoke):
        if not isinstance(path, str) or not _SMOKE_PATH.fullmatch(path):
            raise ConfigError(f"app.smokePaths[{i}]", path, allowed)
    return AppSpec(**merged, smoke_paths=tuple(dict.fromkeys(smoke)))


def _backups(raw: Mapping[str, object]) -> BackupSpec:
    given = _mapping(raw.get("backups", {}), "backups", (*BACKUP_DEFAULTS, "restoreFrom"))
    merged = {**BACKUP_DEFAULTS, **given}
    schedule = merged["schedule"]
    if schedule not in BACKUP_SCHEDULES:
        raise ConfigError("backups.schedule", schedule, f"one of {', '.join(BACKUP_SCHEDULES)}")
    retention = merged["retentionFull"]
    lo, hi = RETENTION_FULL
    if isinstance(retention, bool) or not isinstance(retention, int) or not lo <= retention <= hi:
        raise ConfigError("backups.retentionFull", retention, f"a whole number of full backups to keep, from {lo} to {hi}")
    sources = merged.get("restoreFrom", [])
    if not isinstance(sources, list):
        raise ConfigError("backups.restoreFrom", sources, "a list of Spaces bucket names")
    for i, bucket in enumerate(sources):
        if not isinstance(bucket, str) or not BUCKET_NAME.fullmatch(bucket):
            raise ConfigError(
                f"backups.restoreFrom[{i}]", bucket,
                "a Spaces bucket name: 3 to 63 lowercase letters, digits and '-', a letter or digit at each end",
            )
    return BackupSpec(str(schedule), retention, tuple(dict.fromkeys(sources)))


def _alerts(raw: Mapping[str, object]) -> AlertSpec | None:
    if "alerts" not in raw:
        return None
    given = _mapping(raw["alerts"], "alerts", ("emails", "slack"))
    emails = given.get("emails", [])
    if not isinstance(emails, list):
        raise ConfigError("alerts.emails", emails, "a list of e-mail addresses")
    for i, email in enumerate(emails):
        if not isinstance(email, str) or not _EMAIL.fullmatch(email):
            raise ConfigError(f"alerts.emails[{i}]", email, "an e-mail address such as ops@example.com")
    channel = url = None
    if "slack" in given:
        slack = _mapping(given["slack"], "alerts.slack", ("channel", "url"))
        channel, url = slack.get("channel"), slack.get("url")
        if not isinstance(channel, str) or not _SLACK_CHANNEL.fullmatch(channel):
            raise ConfigError("alerts.slack.channel", channel, "a Slack channel such as #ops")
        if not isinstance(url, str) or not _SLACK_WEBHOOK.fullmatch(url):
            raise ConfigError(
                "alerts.slack.url", "<not shown>" if isinstance(url, str) else url,
                "a Slack incoming webhook URL, https://hooks.slack.com/services/...",
            )
    if not emails and channel is None:
        raise ConfigError("alerts", dict(given), "at least one of emails (a non-empty list) and slack; leave alerts out for none")
    return AlertSpec(tuple(emails), channel, url)
