"""DigitalOcean's resource types as the program uses them: tokens, what forces replacement, destroy order, outputs.

Every reader of a resource (the simulated cloud, the offline plan, the
local cloud's stand-ins and its state) takes these facts from here.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

DROPLET = "digitalocean:index/droplet:Droplet"
VPC = "digitalocean:index/vpc:Vpc"
VOLUME = "digitalocean:index/volume:Volume"
VOLUME_ATTACHMENT = "digitalocean:index/volumeAttachment:VolumeAttachment"
LOAD_BALANCER = "digitalocean:index/loadBalancer:LoadBalancer"
FIREWALL = "digitalocean:index/firewall:Firewall"
SSH_KEY = "digitalocean:index/sshKey:SshKey"
TAG = "digitalocean:index/tag:Tag"
CERTIFICATE = "digitalocean:index/certificate:Certificate"
DNS_RECORD = "digitalocean:index/dnsRecord:DnsRecord"
PROJECT = "digitalocean:index/project:Project"
PROJECT_RESOURCES = "digitalocean:index/projectResources:ProjectResources"
SPACES_BUCKET = "digitalocean:index/spacesBucket:SpacesBucket"
SPACES_KEY = "digitalocean:index/spacesKey:SpacesKey"
MONITOR_ALERT = "digitalocean:index/monitorAlert:MonitorAlert"
UPTIME_CHECK = "digitalocean:index/uptimeCheck:UptimeCheck"
UPTIME_ALERT = "digitalocean:index/uptimeAlert:UptimeAlert"
COMMAND = "command:remote:Command"
COPY_TO_REMOTE = "command:remote:CopyToRemote"
LOCAL_COMMAND = "command:local:Command"

ALL_INPUTS = "*"


@dataclass(frozen=True)
class ResourceType:
    token: str
    replace_on: tuple[str, ...]
    """Inputs whose change replaces the resource (the provider's ForceNew fields); ALL_INPUTS for every one."""
    noun: str
    """What a reader calls one, in the offline diff's counts: the deploy steps and uploads are all steps."""

    @property
    def short(self) -> str:
        return self.token.rsplit(":", 1)[-1]


TYPES: dict[str, ResourceType] = {
    t.token: t
    for t in (
        ResourceType(DROPLET, ("image", "region", "sshKeys", "userData", "monitoring", "vpcUuid", "dropletAgent"), "droplet"),
        ResourceType(LOAD_BALANCER, ("region", "vpcUuid", "type", "network"), "load balancer"),
        ResourceType(VPC, ("region", "ipRange"), "VPC"),
        ResourceType(VOLUME, ("region", "name", "initialFilesystemType", "snapshotId"), "volume"),
        ResourceType(VOLUME_ATTACHMENT, ("dropletId", "volumeId"), "volume attachment"),
        ResourceType(SSH_KEY, ("publicKey",), "SSH key"),
        ResourceType(TAG, ("name",), "tag"),
        ResourceType(CERTIFICATE, (ALL_INPUTS,), "certificate"),
        ResourceType(DNS_RECORD, ("domain", "type"), "DNS record"),
        ResourceType(FIREWALL, (), "firewall"),
        ResourceType(PROJECT, (), "project"),
        ResourceType(PROJECT_RESOURCES, (), "project assignment"),
        ResourceType(SPACES_BUCKET, ("region", "name"), "Spaces bucket"),
        ResourceType(SPACES_KEY, (), "Spaces key"),
        ResourceType(MONITOR_ALERT, (), "monitor alert"),
        ResourceType(UPTIME_CHECK, (), "uptime check"),
        ResourceType(UPTIME_ALERT, ("checkId",), "uptime alert"),
        ResourceType(COMMAND, ("triggers", "connection"), "step"),
        ResourceType(COPY_TO_REMOTE, ("triggers", "connection"), "step"),
        ResourceType(LOCAL_COMMAND, ("triggers",), "step"),
    )
}

DESTROY_ORDER: tuple[str, ...] = (
    LOCAL_COMMAND, COMMAND, COPY_TO_REMOTE, PROJECT_RESOURCES, DNS_RECORD, UPTIME_ALERT, UPTIME_CHECK, MONITOR_ALERT,
    VOLUME_ATTACHMENT, LOAD_BALANCER, CERTIFICATE, DROPLET, FIREWALL, TAG, SSH_KEY, SPACES_KEY, PROJECT,
    VOLUME, SPACES_BUCKET, VPC,
)
"""Dependents first: the order resources that left the program are destroyed in."""


class UnknownResourceType(NotImplementedError):
    """The program registered a type this model of DigitalOcean does not know."""


def resource_type(token: str) -> ResourceType:
    try:
        return TYPES[token]
    except KeyError:
        raise UnknownResourceType(f"no model of resource type {token}; known types are {', '.join(TYPES)}") from None


def forces_replacement(token: str, changed: Iterable[str]) -> bool:
    replace_on = resource_type(token).replace_on
    return ALL_INPUTS in replace_on or any(k in replace_on for k in changed)


T = TypeVar("T")


def in_destroy_order(items: Iterable[T], token_of: Any, name_of: Any) -> list[T]:
    """`items` sorted so that what depends on others is destroyed first."""
    rank = {t: i for i, t in enumerate(DESTROY_ORDER)}
    return sorted(items, key=lambda item: (rank.get(token_of(item), -1), name_of(item)))


def fingerprint(public_key: str) -> str:
    """DigitalOcean's SSH key fingerprint: MD5 of the decoded key blob, colon-separated; the comment does not count."""
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


def numeric_id(seed: str) -> str:
    """An id shaped like DigitalOcean's (an integer), picked by `seed`."""
    return str(int(hashlib.sha256(seed.encode()).hexdigest()[:8], 16))


def droplet_outputs(rid: str, public_ip: str, private_ip: str) -> dict[str, Any]:
    return {"ipv4_address": public_ip, "ipv4_address_private": private_ip, "droplet_urn": f"do:droplet:{rid}", "status": "active"}


def load_balancer_outputs(rid: str, ip: str) -> dict[str, Any]:
    return {"ip": ip, "load_balancer_urn": f"do:loadbalancer:{rid}", "status": "active"}


def volume_outputs(rid: str) -> dict[str, Any]:
    return {"volume_urn": f"do:volume:{rid}"}


def vpc_outputs(rid: str) -> dict[str, Any]:
    return {"urn": f"do:vpc:{rid}"}


def ssh_key_outputs(public_key: str) -> dict[str, Any]:
    return {"fingerprint": fingerprint(public_key)}


def tag_outputs(name: str) -> dict[str, Any]:
    return {"name": name}


def firewall_outputs() -> dict[str, Any]:
    return {"status": "succeeded"}


SPACES_DOMAIN = "digitaloceanspaces.com"


def spaces_bucket_outputs(name: str, region: str, endpoint: str | None = None) -> dict[str, Any]:
    """A bucket's addresses; `endpoint` stands in for the region's own where Spaces is played elsewhere."""
    endpoint = endpoint or f"{region}.{SPACES_DOMAIN}"
    return {"endpoint": endpoint, "bucket_domain_name": f"{name}.{endpoint}", "bucket_urn": f"do:space:{name}"}


def spaces_key_outputs(name: str) -> dict[str, Any]:
    """An access key id shaped like DigitalOcean's (DO00 and 16 more), and its secret, picked by `name`."""
    digest = hashlib.sha256(f"spaces-key/{name}".encode()).hexdigest().upper()
    secret = base64.b64encode(hashlib.sha256(f"spaces-secret/{name}".encode()).digest()).decode()[:43]
    return {"access_key": f"DO00{digest[:16]}", "secret_key": secret, "created_at": "2026-01-01T00:00:00Z"}


def outputs_from_inputs(token: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """What DigitalOcean returns for a type whose outputs follow from its inputs alone."""
    if token == SPACES_BUCKET:
        return spaces_bucket_outputs(str(inputs["name"]), str(inputs.get("region") or "nyc3"))
    if token == SPACES_KEY:
        return spaces_key_outputs(str(inputs.get("name")))
    if token == MONITOR_ALERT:
        return {"uuid": numeric_id(f"alert/{inputs.get('description')}")}
    if token == SSH_KEY:
        return ssh_key_outputs(str(inputs["publicKey"]))
    if token == TAG:
        return tag_outputs(str(inputs["name"]))
    if token == FIREWALL:
        return firewall_outputs()
    return {}


def command_outputs(stdout: str, stderr: str) -> dict[str, Any]:
    return {"stdout": stdout, "stderr": stderr}
