"""The program's resources, played on this host: a pulumi.runtime.Mocks whose new_resource runs each one.

Each registration is compared with the stack's state (localcloud.state) and
kept, created, updated in place or replaced, as DigitalOcean and
pulumi-command would. Registrations arrive on the SDK's executor threads,
several at once: long work (booting, SSH) runs outside the lock, bookkeeping
and the rendering of firewall and balancer rules inside it. Resources the
program no longer registers are destroyed by finish(), after a successful run.
"""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

import pulumi

from model.paths import PG_MOUNT
from localcloud import balancer, firewall, ssh, volume
from localcloud.image import Image
from localcloud.machine import (
    MachineSpec,
    MachineState,
    is_running,
    load_state,
    start,
    teardown,
)
from localcloud.network import Network, create_network, teardown_network, veth_name
from localcloud.state import (
    Action,
    Decision,
    Record,
    StackState,
    decide,
    destroy_order,
    input_digests,
    resource_key,
)
from sim.inputs import provider_view
from sim.resources import (
    fingerprint,
    CERTIFICATE,
    COMMAND,
    COPY_TO_REMOTE,
    DNS_RECORD,
    DROPLET,
    FIREWALL,
    LOAD_BALANCER,
    PROJECT,
    PROJECT_RESOURCES,
    SSH_KEY,
    VOLUME,
    VOLUME_ATTACHMENT,
    VPC,
)

RECORDED_ONLY = (SSH_KEY, CERTIFICATE, DNS_RECORD, PROJECT, PROJECT_RESOURCES)
COMMAND_RUN_INPUTS = ("create", "update", "stdin", "environment")
"""A change of any other Command input (logging, delete...) is recorded without running anything."""


class UnsupportedResource(NotImplementedError):
    """The program registered a type the local cloud has no stand-in for."""


class LocalCloudError(RuntimeError):
    """A resource could not be played on this host."""


@dataclass(frozen=True)
class Outcome:
    """What one handler did: the resource's id, the outputs it adds to its inputs, and its local facts."""

    id: str
    outputs: Mapping[str, Any]
    local: Mapping[str, Any]
    note: str = ""


@dataclass(frozen=True)
class Report:
    key: str
    action: Action
    seconds: float
    note: str = ""

    def line(self) -> str:
        type_, name = self.key.split("::", 1)
        note = f"  ({self.note})" if self.note else ""
        return f"{self.action.value:>9}  {type_.split(':')[-1]:<16} {name:<24} {self.seconds:6.1f}s{note}"


def new_id(*parts: str) -> str:
    """A numeric id, like DigitalOcean's, unique to this creation."""
    seed = "/".join([*parts, str(time.time_ns())]).encode()
    return str(int(hashlib.sha256(seed).hexdigest()[:9], 16))


class LocalCloudError(RuntimeError):
    """A resource could not be played on this host."""


@dataclass(frozen=True)
class Outcome:
    """What one handler did: the resource's id, the outputs it adds to its inputs, and its local facts."""

    id: str
    outputs: Mapping[str, Any]
    local: Mapping[str, Any]
    note: str = ""


@dataclass(frozen=True)
class Report:
    key: str
    action: Action
    seconds: float
    note: str = ""

    def line(self) -> str:
        type_, name = self.key.split("::", 1)
        note = f"  ({self.note})" if self.note else ""
        return f"{self.action.value:>9}  {type_.split(':')[-1]:<16} {name:<24} {self.seconds:6.1f}s{note}"


def new_id(*parts: str) -> str:
    """A numeric id, like DigitalOcean's, unique to this creation."""
    seed = "/".join([*parts, str(time.time_ns())]).encode()
    return str(int(hashlib.sha256(seed).hexdigest()[:9], 16))


def fingerprint(public_key: str) -> str:
    """DigitalOcean's SSH key fingerprint: MD5 of the key blob, colon-separated."""
    blob = base64.b64decode(public_key.split()[1])
    digest = hashlib.md5(blob).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, 32, 2))


class LocalCloud(pulumi.runtime.Mocks):
    """Maps every resource type the program registers to a stand-in on this host."""

    def __init__(
        self,
        stack: str,
        stack_dir: Path,
        image: Image,
        wheelhouse: Path | None,
        digest_key: bytes,
        deploy_key: str,
        secrets: Sequence[str],
        say: Callable[[str], None] = print,
    ):
        self.stack = stack
        self.stack_dir = stack_dir
        self.image = image
        self.wheelhouse = wheelhouse
        self.digest_key = digest_key
        self.deploy_key = deploy_key
        self.secrets = tuple(secrets)
        self.say = say
        self.state = StackState(stack_dir / "state.json")
        self.seen: set[str] = set()
        self.reports: list[Report] = []
        self.lock = threading.RLock()
        self.handlers: dict[str, Callable[[pulumi.runtime.MockResourceArgs, Decision, Record | None], Outcome]] = {
            VPC: self._vpc,
            DROPLET: self._droplet,
            VOLUME: self._volume,
            VOLUME_ATTACHMENT: self._attachment,
            LOAD_BALANCER: self._load_balancer,
            FIREWALL: self._firewall,
            COMMAND: self._command,
            COPY_TO_REMOTE: self._copy,
            **{t: self._recorded for t in RECORDED_ONLY},
        }

    # -- the Mocks interface -------------------------------------------------

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if not args.custom:
            return "", dict(args.inputs)  # a component: nothing runs for it
        handler = self.handlers.get(args.typ)
        if handler is None:
            raise UnsupportedResource(f"the local cloud has no stand-in for resource type {args.typ} ({args.name})")
        started = time.monotonic()
        raw_inputs = args.inputs
        args.inputs = provider_view(raw_inputs)
        digests = input_digests(args.inputs, self.digest_key)
        with self.lock:
            key = resource_key(args.typ, args.name)
            if key in self.seen:
                raise LocalCloudError(f"{key} registered twice in one run")
            self.seen.add(key)
            previous = self.state.get(args.typ, args.name)
        decision = decide(args.typ, previous, digests)
        try:
            outcome = handler(args, decision, previous)
        except Exception as error:
            raise LocalCloudError(f"{decision.action.value} {args.typ} {args.name} failed: {error}") from None
        with self.lock:
            self.state.put(Record(args.typ, args.name, outcome.id, digests, dict(outcome.outputs), dict(outcome.local)))
            note = ", ".join(decision.changed) if decision.action in (Action.UPDATED, Action.REPLACED) else ""
            note = "; ".join(n for n in (note, outcome.note) if n)
            self._report(Report(key, decision.action, time.monotonic() - started, note))
        return outcome.id, {**raw_inputs, **outcome.outputs}

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise UnsupportedResource(f"the local cloud has no stand-in for function {args.token}")

    # -- after the program ---------------------------------------------------

    def finish(self) -> None:
        """Destroy what the program no longer registers, then render the rules for what remains."""
        gone = [r for r in self.state.records.values() if r.key not in self.seen]
        for record in destroy_order(gone):
            started = time.monotonic()
            if record.type == VOLUME:
                self._report(Report(record.key, Action.REFUSED, 0.0, "protected: the volume and its data are kept"))
                continue
            self.destroy(record)
            self._report(Report(record.key, Action.DESTROYED, time.monotonic() - started))
        with self.lock:
            self._refresh_rules()

    def destroy_all(self) -> None:
        """Destroy every resource of the stack; a volume's directory (its data) stays."""
        for record in destroy_order(list(self.state.records.values())):
            started = time.monotonic()
            self.destroy(record)
            self._report(Report(record.key, Action.DESTROYED, time.monotonic() - started))
        firewall.remove(self.stack)

    def destroy(self, record: Record) -> None:
        local = record.local
        if record.type == COMMAND and local.get("delete"):
            self._delete_command(record)
        elif record.type == VOLUME_ATTACHMENT:
            self._detach(record)
        elif record.type == LOAD_BALANCER:
            balancer.stop(self.stack, local["name"], Path(local["dir"]))
        elif record.type == DROPLET:
            teardown(local["machine"])
        elif record.type == VPC:
            teardown_network(self._network_of(record))
        with self.lock:
            self.state.drop(record)
            if record.type in (DROPLET, FIREWALL, LOAD_BALANCER):
                self._refresh_rules()

    # -- helpers -------------------------------------------------------------

    def _report(self, report: Report) -> None:
        with self.lock:
            self.reports.append(report)
            self.say(report.line())

    def _network_of(self, vpc: Record) -> Network:
        return Network(self.stack, IPv4Network(vpc.local["cidr"]))

    def _vpc_by_id(self, vpc_id: str) -> Record:
        with self.lock:
            for record in self.state.of_type(VPC):
                if record.id == vpc_id:
                    return record
        raise LocalCloudError(f"no VPC with id {vpc_id}")

    def _allocate(self, network: Network, avoid: Sequence[str] = ()) -> IPv4Interface:
        """The lowest free host address of the VPC (the host holds the first)."""
        with self.lock:
            used = {str(r.local.get("address")) for r in self.state.records.values() if r.local.get("address")}
            used.update(avoid)
            for n in range(2, network.cidr.num_addresses - 1):
                candidate = network.address(n)
                if str(candidate) not in used:
                    return candidate
        raise LocalCloudError(f"VPC {network.cidr} has no free address")

    def _machine(self, droplet_id: str) -> tuple[Record, MachineState | None]:
        with self.lock:
            record = next((r for r in self.state.of_type(DROPLET) if r.id == str(droplet_id)), None)
        if record is None:
            raise LocalCloudError(f"no droplet with id {droplet_id}")
        machine = load_state(record.local["machine"])
        return record, machine if machine is not None and is_running(machine) else None

    def _refresh_rules(self) -> None:
        """Firewalls and balancer backends follow the droplets, tags and firewalls of this moment."""
        droplets = [
            firewall.Droplet(r.local["machine"], veth_name(r.local["machine"]), str(IPv4Interface(r.local["address"]).ip),
                             tuple(r.local["tags"]))
            for r in self.state.of_type(DROPLET)
        ]
        lbs = self.state.of_type(LOAD_BALANCER)
        specs = [
            firewall.FirewallSpec(r.name, tuple(r.local["tags"]), tuple(r.local["inboundRules"]))
            for r in self.state.of_type(FIREWALL)
        ]
        addresses = {r.id: str(IPv4Interface(r.local["address"]).ip) for r in lbs}
        firewall.apply(self.stack, firewall.guards(droplets, specs, addresses))
        for record in lbs:
            spec = balancer.spec_from_inputs(self.stack, record.local["inputs"])
            servers = [
                balancer.Server(r.name, str(IPv4Interface(r.local["address"]).ip))
                for r in self.state.of_type(DROPLET) if spec.droplet_tag in r.local["tags"]
            ]
            network = self._network_of(self._vpc_by_id(record.local["vpc"]))
            balancer.ensure(spec, network, IPv4Interface(record.local["address"]), servers, Path(record.local["dir"]))

    # -- stand-ins -----------------------------------------------------------

    def _recorded(self, args: pulumi.runtime.MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        if decision.action in (Action.KEPT, Action.UPDATED) and previous is not None:
            return Outcome(previous.id, previous.outputs, {})
        rid = new_id(self.stack, args.typ, args.name)
        outputs: dict[str, Any] = {}
        if args.typ == SSH_KEY:
            outputs["fingerprint"] = fingerprint(str(args.inputs["publicKey"]))
        return Outcome(rid, outputs, {})

    def _vpc(self, args: pulumi.runtime.MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        cidr = str(args.inputs["ipRange"])
        network = Network(self.stack, IPv4Network(cidr))
        if decision.action == Action.REPLACED and previous is not None:
            teardown_network(self._network_of(previous))
        create_network(network)
        rid = previous.id if previous is not None and decision.action != Action.REPLACED else new_id(self.stack, "vpc")
        return Outcome(rid, {"urn": f"do:vpc:{rid}"}, {"cidr": cidr, "bridge": network.bridge})

    def _droplet(self, args: pulumi.runtime.MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        inputs = args.inputs
        tags = sorted(str(t) for t in inputs.get("tags") or [])
        if previous is not None and decision.action in (Action.KEPT, Action.UPDATED):
            local = {**previous.local, "tags": tags, "size": inputs.get("size")}
            if decision.action == Action.UPDATED:
                with self.lock:
                    self.state.put(Record(DROPLET, args.name, previous.id, previous.digests, previous.outputs, local))
                    self._refresh_rules()
            machine = load_state(previous.local["machine"])
            note = "" if machine is not None and is_running(machine) else "its machine is not running"
            return Outcome(previous.id, previous.outputs, local, note)
        avoid = []
        if previous is not None:
            teardown(previous.local["machine"])
            avoid.append(previous.local["address"])
        vpc = self._vpc_by_id(str(inputs["vpcUuid"]))
        network = self._network_of(vpc)
        machine_name = f"{self.stack}-{inputs['name']}"
        rid = new_id(self.stack, "droplet", args.name)
        with self.lock:
            address = self._allocate(network, avoid)
            local = {"machine": machine_name, "address": str(address), "tags": tags, "size": inputs.get("size")}
            # Claim the address before booting, so a droplet registered meanwhile gets another one.
            self.state.put(Record(DROPLET, args.name, rid, {}, {}, local))
        spec = MachineSpec(
            machine_name, network, address, str(inputs["userData"]).encode(), self.image,
            wheelhouse=self.wheelhouse, hostname=str(inputs["name"]),
        )
        start(spec)
        with self.lock:
            self._refresh_rules()
        ip = str(address.ip)
        outputs = {
            "ipv4_address": ip, "ipv4_address_private": ip, "droplet_urn": f"do:droplet:{rid}",
            "status": "active",
        }
        return Outcome(rid, outputs, local)

    def _volume(self, args: pulumi.runtime.MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        if decision.action == Action.REPLACED:
            raise LocalCloudError(
                f"volume {args.inputs.get('name')} is protected and {', '.join(decision.changed)} would replace it"
            )
        path = volume.ensure_volume(self.stack, str(args.inputs["name"]))
        rid = previous.id if previous is not None else new_id(self.stack, "volume", args.name)
        return Outcome(rid, {"volume_urn": f"do:volume:{rid}"}, {"path": str(path)})

    def _detach(self, record: Record) -> None:
        with self.lock:
            droplet = next((r for r in self.state.of_type(DROPLET) if r.id == record.local["droplet"]), None)
        machine = load_state(droplet.local["machine"]) if droplet is not None else None
        if machine is not None and is_running(machine):
            volume.detach(machine, PG_MOUNT)

    def _attachment(self, args: pulumi.runtime.MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        droplet_id = str(args.inputs["dropletId"])
        volume_id = str(args.inputs["volumeId"])
        if previous is not None and decision.action in (Action.KEPT, Action.UPDATED):
            return Outcome(previous.id, previous.outputs, previous.local)
        if previous is not None:
            self._detach(previous)
        with self.lock:
            vol = next((r for r in self.state.of_type(VOLUME) if r.id == volume_id), None)
        if vol is None:
            raise LocalCloudError(f"no volume with id {volume_id}")
        droplet, machine = self._machine(droplet_id)
        if machine is None:
            raise LocalCloudError(f"droplet {droplet.name} is not running")
        volume.attach(machine, Path(vol.local["path"]), PG_MOUNT)
        rid = new_id(self.stack, "attachment", args.name)
        return Outcome(rid, {}, {"droplet": droplet_id, "volume": volume_id})

    def _load_balancer(self, args: pulumi.runtime.MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        keep = {k: args.inputs.get(k) for k in ("name", "dropletTag", "forwardingRules", "healthcheck")}
        spec = balancer.spec_from_inputs(self.stack, keep)
        if previous is not None and decision.action in (Action.KEPT, Action.UPDATED):
            local = {**previous.local, "inputs": keep, "name": spec.name}
            with self.lock:
                self.state.put(Record(LOAD_BALANCER, args.name, previous.id, previous.digests, previous.outputs, local))
                self._refresh_rules()
            return Outcome(previous.id, previous.outputs, local)
        avoid = []
        if previous is not None:
            balancer.stop(self.stack, previous.local["name"], Path(previous.local["dir"]))
            avoid.append(previous.local["address"])
        vpc_id = str(args.inputs["vpcUuid"])
        network = self._network_of(self._vpc_by_id(vpc_id))
        rid = new_id(self.stack, "lb", args.name)
        directory = self.stack_dir / "balancers" / spec.name
        with self.lock:
            address = self._allocate(network, avoid)
            local = {"name": spec.name, "address": str(address), "vpc": vpc_id, "dir": str(directory), "inputs": keep}
            self.state.put(Record(LOAD_BALANCER, args.name, rid, {}, {}, local))
            self._refresh_rules()
        ip = str(address.ip)
        return Outcome(rid, {"ip": ip, "load_balancer_urn": f"do:loadbalancer:{rid}", "status": "active"}, local)

    def _firewall(self, args: pulumi.runtime.MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        rid = previous.id if previous is not None and decision.action != Action.REPLACED else new_id(self.stack, "fw", args.name)
        local = {
            "tags": sorted(str(t) for t in args.inputs.get("tags") or []),
            "inboundRules": list(args.inputs.get("inboundRules") or []),
        }
        with self.lock:
            self.state.put(Record(FIREWALL, args.name, rid, {}, {}, local))
            self._refresh_rules()
        return Outcome(rid, {"status": "succeeded"}, local)

    def _command(self, args: pulumi.runtime.MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        inputs = args.inputs
        conn = ssh.connection_from_inputs(inputs)
        local = {"host": conn.host, "user": conn.user, "port": conn.port, "delete": inputs.get("delete") or ""}
        reruns = decision.action in (Action.CREATED, Action.REPLACED) or any(
            k in COMMAND_RUN_INPUTS for k in decision.changed
        )
        if previous is not None and not reruns:
            return Outcome(previous.id, previous.outputs, local)
        line = str(inputs["create"])
        if decision.action == Action.UPDATED and inputs.get("update"):
            line = str(inputs["update"])
        stdout, stderr = ssh.run_command(
            conn, line, inputs.get("stdin"), dict(inputs.get("environment") or {}), self.secrets
        )
        if decision.action == Action.REPLACED and previous is not None and previous.local.get("delete"):
            self._delete_command(previous)
        rid = previous.id if previous is not None and decision.action == Action.UPDATED else new_id(self.stack, "cmd", args.name)
        return Outcome(rid, {"stdout": stdout, "stderr": stderr}, local)

    def _delete_command(self, record: Record) -> None:
        local = record.local
        conn = ssh.Connection(local["host"], local["user"], int(local["port"]), self.deploy_key, 3, 5)
        try:
            ssh.run_command(conn, str(local["delete"]), None, {}, self.secrets)
        except ssh.RemoteError as error:
            self.say(f"  delete of {record.name} did not run: {error}")

    def _copy(self, args: pulumi.runtime.MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        conn = ssh.connection_from_inputs(args.inputs)
        if previous is not None and decision.action == Action.KEPT:
            return Outcome(previous.id, previous.outputs, previous.local)
        ssh.copy_to_remote(conn, args.inputs["source"], str(args.inputs["remotePath"]), self.secrets)
        rid = new_id(self.stack, "copy", args.name)
        return Outcome(rid, {}, {"host": conn.host})
