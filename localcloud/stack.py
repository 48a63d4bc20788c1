"""`up` and `down` of a local stack: secrets, config overrides, the program run, the node table.

A local stack gets its own secrets (made on first up, kept 0600 beside its
state), its own VPC range (so several stacks can run side by side, as
DigitalOcean forbids overlapping VPCs in one account), the deploy key's
public half as its SSH key, and the host side of its bridge as the admin
range, so the host's SSH passes the firewall emulation.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import secrets as random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

import yaml

from localcloud import limits, ssh
from localcloud.cloud import LocalCloud, LocalCloudError, Report
from localcloud.host import data_dir, require_root
from localcloud.image import ensure_image, ensure_wheelhouse
from localcloud.machine import is_running, load_state, run_in
from localcloud.network import Network, ensure_internet, teardown_internet
from localcloud.state import StackState
from localcloud.volume import purge_volumes
from model import naming
from model.config import DEFAULT_APP, deploy_public_key
from model.project import ROOT, stack_config
from render.steps import manage_command
from sim.account import Account
from sim.harness import run_program
from sim.keys import new_deploy_key
from sim.resources import COMMAND, DROPLET
from sim.table import table

FIRST_APP_STEP = "migrate"
"""The step that runs on the first app node only: where `manage` goes, by its address and pinned host key."""
SECRETS_FILE = "secrets.json"
PARALLEL_ENV = "LOCALCLOUD_PARALLEL"
DEFAULT_PARALLEL = 32
"""Resources played at once, at most (booting machines, steps over SSH): most of the time they wait."""
ACCOUNT_FILE = "account.json"


@dataclass(frozen=True)
class StackSecrets:
    """What a local stack keeps private: the program's three secrets and the key of its state digests."""

    db_password: str
    secret_key: str
    ssh_private_key: str
    digest_key: str
    vpc_cidr: str

    def program_secrets(self) -> dict[str, str]:
        return {"dbPassword": self.db_password, "secretKey": self.secret_key, "sshPrivateKey": self.ssh_private_key}

    @property
    def gateway(self) -> IPv4Interface:
        return Network("", IPv4Network(self.vpc_cidr)).gateway


@dataclass(frozen=True)
class NodeRow:
    group: str
    name: str
    roles: tuple[str, ...]
    address: str
    machine: str
    state: str
    limits: str
    """The CPU quota and memory limit the machine runs under, read back from its cgroups; empty when stopped."""


@dataclass(frozen=True)
class UpResult:
    stack: str
    url: str
    outputs: Mapping[str, Any]
    nodes: tuple[NodeRow, ...]
    reports: tuple[Report, ...]
    seconds: float


def stack_dir(stack: str) -> Path:
    return data_dir() / "stacks" / stack


def _pick_cidr(stack: str) -> str:
    """A /24 for the stack's VPC, derived from its name, unused by any other local stack."""
    taken = set()
    for other in (data_dir() / "stacks").glob(f"*/{SECRETS_FILE}"):
        taken.add(json.loads(other.read_text())["vpc_cidr"])
    seed = int(hashlib.sha256(stack.encode()).hexdigest(), 16)
    for attempt in range(4096):
        value = seed + attempt
        cidr = f"10.{100 + value % 100}.{(value // 100) % 256}.0/24"
        if cidr not in taken:
            return cidr
    raise RuntimeError("no free /24 left for a local stack")


def ensure_secrets(stack: str, deploy_key: str | None = None) -> StackSecrets:
    """The stack's secrets, made on its first up; `deploy_key` is the private key it shares with other stacks."""
    path = stack_dir(stack) / SECRETS_FILE
    if path.is_file():
        kept = StackSecrets(**json.loads(path.read_text()))
        if deploy_key is not None and kept.ssh_private_key.strip() != deploy_key.strip():
            raise ValueError(f"local stack {stack} already has another deploy key; take it down with --purge first")
        return kept
    private = deploy_key if deploy_key is not None else new_deploy_key()[0]
    made = StackSecrets(
        db_password=random.token_urlsafe(32),
        secret_key=random.token_urlsafe(50),
        ssh_private_key=private,
        digest_key=random.token_hex(32),
        vpc_cidr=_pick_cidr(stack),
    )
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(made.__dict__, handle)
    return made


def apply_sets(config: Mapping[str, Any], sets: Sequence[str]) -> dict[str, Any]:
    """`tiers.app.count=3` style overrides; the value is read as YAML (so 3 is a number)."""
    out = copy.deepcopy(dict(config))
    for item in sets:
        path, sep, text = item.partition("=")
        if not sep or not path:
            raise ValueError(f"--set {item!r}: expected key.path=value")
        keys = path.split(".")
        node = out
        for key in keys[:-1]:
            node = node.setdefault(key, {})
            if not isinstance(node, dict):
                raise ValueError(f"--set {item!r}: {key} is not an object")
        node[keys[-1]] = yaml.safe_load(text)
    return out


def local_config(config: Mapping[str, Any], made: StackSecrets) -> dict[str, Any]:
    """The stack's config with what only the local cloud can know: its VPC, admin range and deploy key."""
    return {
        **config,
        "vpcCidr": made.vpc_cidr,
        "adminCidrs": [f"{made.gateway.ip}/32"],
        "sshPublicKeys": [deploy_public_key(made.ssh_private_key)],
    }


def _cloud(stack: str, made: StackSecrets, config: Mapping[str, Any], say: Callable[[str], None]) -> LocalCloud:
    app = {**DEFAULT_APP, **dict(config.get("app") or {})}
    wheelhouse = ensure_wheelhouse(ROOT / app["source"] / app["requirements"])
    return LocalCloud(
        stack=stack,
        stack_dir=stack_dir(stack),
        image=ensure_image(),
        wheelhouse=wheelhouse,
        digest_key=bytes.fromhex(made.digest_key),
        deploy_key=made.ssh_private_key,
        secrets=tuple(made.program_secrets().values()),
        say=say,
    )


def parallel() -> int:
    """How many resources an up plays at once: LOCALCLOUD_PARALLEL, or DEFAULT_PARALLEL."""
    text = os.environ.get(PARALLEL_ENV, str(DEFAULT_PARALLEL))
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{PARALLEL_ENV}={text!r}: a whole number, at least 1")
    return int(text)


def account_path() -> Path:
    """The one DigitalOcean account every local stack lives in: what it holds outlives each stack's run."""
    return data_dir() / ACCOUNT_FILE


def register_key(public_key: str) -> None:
    """Register an SSH key in the local account by hand, as a user may have done in DigitalOcean's panel."""
    account = Account.load(account_path())
    account.register_key(public_key)
    account.save(account_path())


def unregister_key(public_key: str) -> None:
    account = Account.load(account_path())
    account.unregister_key(public_key)
    account.save(account_path())


def up(
    stack: str,
    config: Mapping[str, Any] | None = None,
    sets: Sequence[str] = (),
    say: Callable[[str], None] = print,
    deploy_key: str | None = None,
) -> UpResult:
    """Run the program for `stack` (its stack file, or `config`) on this host and return the site's URL and nodes.

    `deploy_key` shares one private key between stacks, as one project's
    staging and production may.
    """
    require_root()
    started = time.monotonic()
    made = ensure_secrets(stack, deploy_key)
    raw = apply_sets(config if config is not None else stack_config(stack), sets)
    effective = local_config(raw, made)
    ensure_internet((Network(stack, IPv4Network(made.vpc_cidr)),))
    cloud = _cloud(stack, made, effective, say)
    account = Account.load(account_path())
    try:
        run = run_program(
            effective, made.program_secrets(), stack, cloud=cloud, account=account, parallel=parallel(),
        )
    finally:
        account.save(account_path())
    cloud.finish()
    return UpResult(
        stack=stack,
        url=str(run.outputs.get("siteUrl")),
        outputs=dict(run.outputs),
        nodes=nodes(stack),
        reports=tuple(cloud.reports),
        seconds=round(time.monotonic() - started, 1),
    )


def down(stack: str, purge: bool = False, say: Callable[[str], None] = print) -> None:
    """Destroy every resource of the stack; keep its volume (and the secrets that open it) unless `purge`."""
    require_root()
    directory = stack_dir(stack)
    if not (directory / SECRETS_FILE).is_file():
        if purge:
            purge_volumes(stack)
        say(f"{stack}: no resources")
        return
    made = ensure_secrets(stack)
    cloud = _cloud(stack, made, {}, say)
    cloud.destroy_all()
    account = Account.load(account_path())
    account.forget(stack)
    account.save(account_path())
    (directory / "state.json").unlink(missing_ok=True)
    shutil.rmtree(directory / "balancers", ignore_errors=True)
    if purge:
        purge_volumes(stack)
        shutil.rmtree(directory, ignore_errors=True)
    if not any(p.is_file() for p in (data_dir() / "stacks").glob("*/state.json")):
        teardown_internet()


def nodes(stack: str) -> tuple[NodeRow, ...]:
    """The stack's droplets as running now: group, roles (from their tags), address and machine state."""
    rows = []
    for record in StackState(stack_dir(stack) / "state.json").of_type(DROPLET):
        roles = naming.roles_of(stack, record.local["tags"])
        machine = load_state(record.local["machine"])
        state = "running" if machine is not None and is_running(machine) else "stopped"
        held = ""
        if machine is not None and state == "running":
            status = run_in(machine, ["cloud-init", "status"], check=False).stdout.decode().strip()
            state = f"running, {status.removeprefix('status: ')}" if status else state
            held = limits.read_back(machine.leader).describe()
        rows.append(NodeRow(
            group=naming.parse_node_name(record.name)[0], name=record.name, roles=roles,
            address=str(IPv4Interface(record.local["address"]).ip), machine=record.local["machine"], state=state,
            limits=held,
        ))
    return tuple(rows)


def node_table(rows: Sequence[NodeRow]) -> str:
    return table(
        ("group", "node", "roles", "private address", "limits", "state"),
        [(r.group, r.name, ",".join(r.roles), r.address, r.limits, r.state) for r in rows],
    )


def manage(stack: str, arguments: Sequence[str], tty: bool) -> int:
    """Run `manage.py <arguments>` on the stack's first app node over SSH, as an admin would; its exit status.

    The node is the one the program migrates from, reached with the stack's
    deploy key and the host key pinned at its first contact.
    """
    require_root()
    state_file = stack_dir(stack) / "state.json"
    first = next((r for r in StackState(state_file).of_type(COMMAND) if r.name == FIRST_APP_STEP), None)
    if not (stack_dir(stack) / SECRETS_FILE).is_file() or first is None:
        raise LocalCloudError(f"{stack}: no app node has a release yet; run `make local STACK={stack}` first")
    made = ensure_secrets(stack)
    local = first.local
    conn = ssh.Connection(
        str(local["host"]), str(local["user"]), int(local["port"]), made.ssh_private_key, 3, 10, local.get("hostKey"),
    )
    return ssh.interactive(conn, manage_command(arguments), tty)
