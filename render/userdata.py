"""Each node's cloud-init user-data: the base fragment merged with its roles' fragments.

User-data forces a droplet's replacement when it changes, so it is built from
what the node can know alone (its group's roles and size, the stack's VPC
CIDR, the admin keys, fixed paths) and never from its index, a group's count,
another node's address or a secret. Those arrive later through remote steps.

Fragments (cloud-init/roles/*.yaml.j2) are Jinja2 templates of cloud-config;
each is rendered and parsed on its own, then merged as data and dumped once
with PyYAML. A write_files entry names the template of its content
(cloud-init/files/*.j2) under the key `template`, replaced here by `content`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

import yaml

from model import paths
from model.roles import APP_PORT, CONSUMER, LOOPBACK_ADDRESS, MEMCACHED_PORT, POSTGRES_PORT, ROLES, Bind, Role
from model.sizing import Tuning, pg_max_connections, tune
from model.topology import Node, Topology
from render.templates import render

ROLE_DIR = "cloud-init/roles"
FILE_DIR = "cloud-init/files"
BASE_FRAGMENT = "base"
BUILDER_FRAGMENT = "builder"
"""What a web node without the app role needs to install a release and collect its static files."""

SYSTEMD_UNIT_DIR = "/etc/systemd/system"
RUNTIME_DIR = "/run"
"""Where systemd makes a unit's RuntimeDirectory=."""
NGINX_SITE_FILE = "/etc/nginx/conf.d/django-tiers.conf"
NGINX_STOCK_SITE = "/etc/nginx/sites-enabled/default"
"""Where the package links its welcome site on a fresh install, unless something is there already."""
STATIC_ACCESS_LOG = "/var/log/nginx/django-tiers-static.log"
STATIC_HASHED_NAME = r"\.[0-9a-f]{12}\.[A-Za-z0-9]+$"
"""A name Django's manifest storage gave a file: its content's hash (12 hex digits) before the extension."""
STATIC_HASHED_MAX_AGE = 365 * 24 * 60 * 60
STATIC_UNHASHED_EXPIRY = "10m"
MEMCACHED_DROPIN = f"{SYSTEMD_UNIT_DIR}/memcached.service.d/django-tiers.conf"
POSTGRES_DROPIN = f"{SYSTEMD_UNIT_DIR}/postgresql@{paths.PG_VERSION}-main.service.d/django-tiers.conf"
PG_TUNING_STAGED = f"{paths.CONFIG_DIR}/postgresql.conf"
PG_HBA_STAGED = f"{paths.CONFIG_DIR}/pg_hba.conf"
SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-django-tiers.conf"
AUTO_UPGRADES_FILE = "/etc/apt/apt.conf.d/21django-tiers-auto-upgrades"
REBOOT_SLOT_SCRIPT = "/usr/local/sbin/django-tiers-reboot-slot"
REBOOT_TIME_CONF = "/etc/apt/apt.conf.d/52django-tiers-reboot-time"
REBOOT_SLOTS = 8
REBOOT_FIRST_MINUTE = 2 * 60
REBOOT_SLOT_MINUTES = 30
SWAP_FILE = "/swapfile"
PRIVATE_IP_VAR = "${PRIVATE_IP}"

ROLE_SERVICES: dict[Role, str] = {
    Role.APP: paths.APP_UNIT,
    Role.CACHE: "memcached.service",
    Role.DB: paths.PGDATA_UNIT,
}
"""The unit of each bound role that reads the node env file, so must start after it."""

CLOUD_CONFIG_HEADER = "#cloud-config\n"


class FragmentConflict(ValueError):
    """Two fragments set the same scalar key to different values."""


def node_binds(node: Node, topology: Topology) -> dict[Role, Bind]:
    """Where each of the node's consumed roles listens: LOOPBACK or PRIVATE."""
    return {role: topology.bind(node.group, role) for role in node.roles if role in CONSUMER}


def _context(node: Node, topology: Topology) -> dict[str, Any]:
    """Everything templates may use. Built from the node's group, roles and size only."""
    tuning: Tuning = tune(node.size, node.roles)
    bind = node_binds(node, topology)
    host = {role: PRIVATE_IP_VAR if b == Bind.PRIVATE else LOOPBACK_ADDRESS for role, b in bind.items()}
    return {
        "paths": {name: getattr(paths, name) for name in dir(paths) if name.isupper()},
        "Role": Role,
        "Bind": Bind,
        "tuning": tuning,
        "pg_max_connections": pg_max_connections(tuning),
        "bind": bind,
        "vpc_cidr": topology.config.vpc_cidr,
        "ssh_public_keys": list(topology.config.ssh_public_keys),
        "volume_name": topology.volume_name,
        "app_port": APP_PORT,
        "memcached_port": MEMCACHED_PORT,
        "pg_port": POSTGRES_PORT,
        "app_bind_host": host.get(Role.APP, LOOPBACK_ADDRESS),
        "cache_bind_host": host.get(Role.CACHE, LOOPBACK_ADDRESS),
        "forwarded_allow_ips": "*" if bind.get(Role.APP) == Bind.PRIVATE else LOOPBACK_ADDRESS,
        "node_env_before": [ROLE_SERVICES[r] for r, b in bind.items() if b == Bind.PRIVATE],
        "unit_dir": SYSTEMD_UNIT_DIR,
        "node_env_script": paths.NODE_ENV_SCRIPT,
        "node_env_dir": str(PurePosixPath(paths.NODE_ENV_FILE).parent.relative_to(RUNTIME_DIR)),
        "pgdata_script": paths.PGDATA_SCRIPT,
        "nginx_site": NGINX_SITE_FILE,
        "nginx_stock_site": NGINX_STOCK_SITE,
        "static_access_log": STATIC_ACCESS_LOG,
        "static_hashed_name": STATIC_HASHED_NAME,
        "static_hashed_max_age": STATIC_HASHED_MAX_AGE,
        "static_unhashed_expiry": STATIC_UNHASHED_EXPIRY,
        "memcached_dropin": MEMCACHED_DROPIN,
        "postgres_dropin": POSTGRES_DROPIN,
        "pg_tuning_staged": PG_TUNING_STAGED,
        "pg_hba_staged": PG_HBA_STAGED,
        "sshd_dropin": SSHD_DROPIN,
        "auto_upgrades": AUTO_UPGRADES_FILE,
        "reboot_slot_script": REBOOT_SLOT_SCRIPT,
        "reboot_time_conf": REBOOT_TIME_CONF,
        "reboot_slots": REBOOT_SLOTS,
        "reboot_first_minute": REBOOT_FIRST_MINUTE,
        "reboot_slot_minutes": REBOOT_SLOT_MINUTES,
        "swap_file": SWAP_FILE,
    }


def _fragment(name: str, context: Mapping[str, Any]) -> dict[str, Any]:
    text = render(f"{ROLE_DIR}/{name}.yaml.j2", **context)
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"cloud-init fragment {name} is not a mapping")
    return data


def merge_fragments(base: Mapping[str, Any], extra: Mapping[str, Any], at: str = "") -> dict[str, Any]:
    """Lists are concatenated, mappings merged key by key; equal scalars are kept, unequal ones refused."""
    out = dict(base)
    for key, value in extra.items():
        where = f"{at}.{key}" if at else key
        if key not in out:
            out[key] = value
        elif isinstance(out[key], list) and isinstance(value, list):
            out[key] = out[key] + value
        elif isinstance(out[key], Mapping) and isinstance(value, Mapping):
            out[key] = merge_fragments(out[key], value, where)
        elif out[key] != value:
            raise FragmentConflict(f"cloud-init fragments disagree on {where}: {out[key]!r} and {value!r}")
    return out


def _fill_write_files(entries: list[dict[str, Any]], context: Mapping[str, Any]) -> list[dict[str, Any]]:
    filled = []
    seen: set[str] = set()
    for entry in entries:
        if entry["path"] in seen:
            raise FragmentConflict(f"two fragments write {entry['path']}")
        seen.add(entry["path"])
        entry = dict(entry)
        template = entry.pop("template")
        entry["content"] = render(f"{FILE_DIR}/{template}", **context)
        filled.append(entry)
    return filled


def user_data(node: Node, topology: Topology) -> dict[str, Any]:
    """The node's cloud-config as data: base, then its roles in ROLES order, then the builder for web without app."""
    context = _context(node, topology)
    doc = _fragment(BASE_FRAGMENT, context)
    for role in ROLES:
        if role in node.roles:
            doc = merge_fragments(doc, _fragment(role, context))
    if Role.WEB in node.roles and Role.APP not in node.roles:
        doc = merge_fragments(doc, _fragment(BUILDER_FRAGMENT, context))
    doc["packages"] = list(dict.fromkeys(doc["packages"]))
    doc["write_files"] = _fill_write_files(doc["write_files"], context)
    return doc


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so a file in user-data reads like the file."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    """A runcmd command or a package list on one line, as a reader would write it."""
    flat = all(isinstance(v, (str, int)) and "\n" not in str(v) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)


_Dumper.add_representer(str, _represent_str)
_Dumper.add_representer(list, _represent_list)


def render_user_data(node: Node, topology: Topology) -> str:
    """The complete #cloud-config document for `node`; byte-identical for every node of its group."""
    body = yaml.dump(
        user_data(node, topology),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=False,
        width=1000,
    )
    return CLOUD_CONFIG_HEADER + body


def rendered_files(node: Node, topology: Topology) -> dict[str, str]:
    """Every file the node's user-data writes, as {path on the node: content}."""
    return {entry["path"]: entry["content"] for entry in user_data(node, topology)["write_files"]}
