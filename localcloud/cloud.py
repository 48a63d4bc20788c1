"""The program's resources, played on this host: a pulumi.runtime.Mocks whose new_resource runs each one.

Each registration is compared with the stack's state (localcloud.state) and
kept, created, updated in place or replaced, as DigitalOcean and
pulumi-command would. Every resource type has one stand-in that both creates
and destroys it, so a replacement takes away exactly what its creation made.
Registrations arrive on the SDK's executor threads, several at once: long
work (booting, SSH) runs outside the lock, bookkeeping and the rendering of
firewall and balancer rules inside it. Resources the program no longer
registers are destroyed by finish(), after a successful run.
"""

from __future__ import annotations

import abc
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path
from typing import Any

from pulumi.runtime import MockCallArgs, MockResourceArgs, Mocks

from localcloud import balancer, certificate, firewall, limits, spaces, ssh, volume
from localcloud.image import Image
from localcloud.machine import MachineSpec, MachineState, is_running, load_state, start, teardown
from localcloud.network import INTERNET_NETNS, Network, create_network, teardown_network, veth_name
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
from model import naming
from sim.inputs import provider_view
from sim.resources import (
    CERTIFICATE,
    COMMAND,
    COPY_TO_REMOTE,
    DNS_RECORD,
    DROPLET,
    FIREWALL,
    LOAD_BALANCER,
    LOCAL_COMMAND,
    MONITOR_ALERT,
    PROJECT,
    PROJECT_RESOURCES,
    SPACES_BUCKET,
    SPACES_KEY,
    SSH_KEY,
    TAG,
    UPTIME_ALERT,
    UPTIME_CHECK,
    VOLUME,
    VOLUME_ATTACHMENT,
    VPC,
    UnknownResourceType,
    command_outputs,
    droplet_outputs,
    firewall_outputs,
    load_balancer_outputs,
    numeric_id,
    outputs_from_inputs,
    spaces_bucket_outputs,
    volume_outputs,
    vpc_outputs,
)

LOCAL_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
"""The deployer's PATH for a local Command, whatever the host's own is."""
RECORDED_ONLY = (
    SSH_KEY, TAG, CERTIFICATE, PROJECT, PROJECT_RESOURCES, SPACES_KEY, MONITOR_ALERT, UPTIME_CHECK, UPTIME_ALERT,
)
"""Spaces keys are recorded only: the local S3 server takes any key, so a key's grants are not enforced here."""
COMMAND_RUN_INPUTS = ("create", "update", "stdin", "environment")
"""A change of any other Command input (logging, delete...) is recorded without running anything."""


class UnsupportedResource(UnknownResourceType):
    """The program registered a type, or called a function, the local cloud has no stand-in for."""


class LocalCloudError(RuntimeError):
    """A resource could not be played on this host."""


@dataclass(frozen=True)
class Outcome:
    """What a stand-in's create did: the resource's id, the outputs it adds to its inputs, and its local facts."""

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


def _running(droplet: Record) -> MachineState | None:
    """The droplet's machine, if it is up."""
    machine = load_state(droplet.local["machine"])
    return machine if machine is not None and is_running(machine) else None


class StandIn(abc.ABC):
    """One resource type as this host plays it: its create and its destroy, side by side."""

    affects_rules = False
    """Firewall and balancer rules are rendered again once one of these is destroyed."""
    protection = ""
    """Why finish() keeps one the program no longer registers; empty when it is destroyed."""

    def __init__(self, cloud: LocalCloud):
        self.cloud = cloud

    @abc.abstractmethod
    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        """Play `decision` for the registration `args`; `previous` is what ran last time, if anything."""

    def destroy(self, record: Record) -> None:
        """Take away what create made on this host; nothing, for a type that leaves nothing behind."""

    def fresh_id(self, args: MockResourceArgs) -> str:
        """A new id; the time in its seed keeps a replacement from getting its predecessor's."""
        return numeric_id(f"{self.cloud.stack}/{args.typ}/{args.name}/{time.time_ns()}")


class RecordedStandIn(StandIn):
    """Keys, tags, certificates, DNS records and projects: nothing runs here, only an id and DigitalOcean's outputs."""

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        if decision.action in (Action.KEPT, Action.UPDATED) and previous is not None:
            return Outcome(previous.id, previous.outputs, {})
        return Outcome(self.fresh_id(args), outputs_from_inputs(args.typ, dict(args.inputs)), {})


class DnsRecordStandIn(RecordedStandIn):
    """An A record is recorded; when it names one of the stack's machines, that machine gets its certificate."""

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        outcome = super().create(args, decision, previous)
        inputs = args.inputs
        if inputs.get("type") == "A":
            with self.cloud.lock:
                droplet = next(
                    (r for r in self.cloud.state.of_type(DROPLET)
                     if str(IPv4Interface(r.local["address"]).ip) == str(inputs.get("value"))),
                    None,
                )
            machine = _running(droplet) if droplet is not None else None
            if machine is not None:
                name = certificate.fqdn(str(inputs["domain"]), str(inputs.get("name") or "@"))
                certificate.trust(self.cloud.stack_dir, name, certificate.issue(machine, name))
        return outcome


class VpcStandIn(StandIn):
    """A VPC is a bridge on this host."""

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        cidr = str(args.inputs["ipRange"])
        network = Network(self.cloud.stack, IPv4Network(cidr))
        if decision.action == Action.REPLACED and previous is not None:
            self.destroy(previous)
        create_network(network)
        rid = previous.id if previous is not None and decision.action != Action.REPLACED else self.fresh_id(args)
        return Outcome(rid, vpc_outputs(rid), {"cidr": cidr, "bridge": network.bridge})

    def destroy(self, record: Record) -> None:
        teardown_network(self.cloud.network_of(record))


class DropletStandIn(StandIn):
    """A droplet is a systemd-nspawn machine on its VPC's bridge, booted on its exact user-data, within its size."""

    affects_rules = True

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        cloud = self.cloud
        inputs = args.inputs
        tags = sorted(str(t) for t in inputs.get("tags") or [])
        if previous is not None and decision.action in (Action.KEPT, Action.UPDATED):
            local = {**previous.local, "tags": tags, "size": inputs.get("size")}
            if decision.action == Action.UPDATED:
                with cloud.lock:
                    cloud.state.put(Record(DROPLET, args.name, previous.id, previous.digests, previous.outputs, local))
                    cloud.refresh_rules()
            note = "" if _running(previous) is not None else "its machine is not running"
            return Outcome(previous.id, previous.outputs, local, note)
        avoid = []
        if previous is not None:
            self.destroy(previous)
            avoid.append(previous.local["address"])
        network = cloud.network_of(cloud.vpc_by_id(str(inputs["vpcUuid"])))
        machine_name = f"{cloud.stack}-{inputs['name']}"
        rid = self.fresh_id(args)
        with cloud.lock:
            address = cloud.allocate(network, avoid)
            local = {"machine": machine_name, "address": str(address), "tags": tags, "size": inputs.get("size")}
            # Claim the address before booting, so a droplet registered meanwhile gets another one.
            cloud.state.put(Record(DROPLET, args.name, rid, {}, {}, local))
        gateway = str(network.gateway.ip)
        spec = MachineSpec(
            machine_name, network, address, str(inputs["userData"]).encode(), cloud.image,
            wheelhouse=cloud.wheelhouse, hostname=str(inputs["name"]),
            limits=limits.for_size(str(inputs["size"]), cloud.scale),
            prepare=lambda root: spaces.trust(root, gateway),
        )
        start(spec)
        with cloud.lock:
            cloud.refresh_rules()
        ip = str(address.ip)
        return Outcome(rid, droplet_outputs(rid, ip, ip), local)

    def destroy(self, record: Record) -> None:
        teardown(record.local["machine"])


class VolumeStandIn(StandIn):
    """A volume is a host directory that outlives machines and teardown; only a purge removes it."""

    protection = "protected: the volume and its data are kept"

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        if decision.action == Action.REPLACED:
            raise LocalCloudError(
                f"volume {args.inputs.get('name')} is protected and {', '.join(decision.changed)} would replace it"
            )
        path = volume.ensure_volume(self.cloud.stack, str(args.inputs["name"]))
        rid = previous.id if previous is not None else self.fresh_id(args)
        return Outcome(rid, volume_outputs(rid), {"path": str(path)})


class SpacesBucketStandIn(StandIn):
    """A bucket lives in the host's S3 server; like a bucket retained on delete, it stays when its stack goes."""

    protection = "retained: the bucket and its backups are kept"

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        if decision.action == Action.REPLACED:
            raise LocalCloudError(
                f"bucket {args.inputs.get('name')} is protected and {', '.join(decision.changed)} would replace it"
            )
        name = str(args.inputs["name"])
        spaces.ensure_server()
        adopted = spaces.ensure_bucket(name)
        rid = previous.id if previous is not None else name
        note = "the retained bucket taken back, as `pulumi import` would" if adopted and previous is None else ""
        outputs = spaces_bucket_outputs(name, str(args.inputs.get("region") or "nyc3"), spaces.ENDPOINT)
        return Outcome(rid, outputs, {"bucket": name}, note)


class VolumeAttachmentStandIn(StandIn):
    """An attachment mounts the volume's directory at the model's mount point inside the running droplet."""

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        droplet_id = str(args.inputs["dropletId"])
        volume_id = str(args.inputs["volumeId"])
        if previous is not None and decision.action in (Action.KEPT, Action.UPDATED):
            return Outcome(previous.id, previous.outputs, previous.local)
        if previous is not None:
            self.destroy(previous)
        with self.cloud.lock:
            vol = next((r for r in self.cloud.state.of_type(VOLUME) if r.id == volume_id), None)
        if vol is None:
            raise LocalCloudError(f"no volume with id {volume_id}")
        droplet = self.cloud.droplet_by_id(droplet_id)
        if droplet is None:
            raise LocalCloudError(f"no droplet with id {droplet_id}")
        machine = _running(droplet)
        if machine is None:
            raise LocalCloudError(f"droplet {droplet.name} is not running")
        volume.attach(machine, Path(vol.local["path"]), naming.VOLUME_MOUNT)
        return Outcome(self.fresh_id(args), {}, {"droplet": droplet_id, "volume": volume_id})

    def destroy(self, record: Record) -> None:
        """Unmount in the droplet if it still runs; a machine already gone holds nothing."""
        droplet = self.cloud.droplet_by_id(record.local["droplet"])
        machine = _running(droplet) if droplet is not None else None
        if machine is not None:
            volume.detach(machine, naming.VOLUME_MOUNT)


class LoadBalancerStandIn(StandIn):
    """A load balancer is HAProxy in its own namespace on the VPC's bridge, over the droplets with its tag."""

    affects_rules = True

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        cloud = self.cloud
        keep = {k: args.inputs.get(k) for k in ("name", "dropletTag", "forwardingRules", "healthcheck")}
        spec = balancer.spec_from_inputs(cloud.stack, keep)
        if previous is not None and decision.action in (Action.KEPT, Action.UPDATED):
            local = {**previous.local, "inputs": keep, "name": spec.name}
            with cloud.lock:
                cloud.state.put(Record(LOAD_BALANCER, args.name, previous.id, previous.digests, previous.outputs, local))
                cloud.refresh_rules()
            return Outcome(previous.id, previous.outputs, local)
        avoid = []
        if previous is not None:
            self.destroy(previous)
            avoid.append(previous.local["address"])
        vpc_id = str(args.inputs["vpcUuid"])
        network = cloud.network_of(cloud.vpc_by_id(vpc_id))
        rid = self.fresh_id(args)
        directory = cloud.stack_dir / "balancers" / spec.name
        with cloud.lock:
            address = cloud.allocate(network, avoid)
            local = {"name": spec.name, "address": str(address), "vpc": vpc_id, "dir": str(directory), "inputs": keep}
            cloud.state.put(Record(LOAD_BALANCER, args.name, rid, {}, {}, local))
            cloud.refresh_rules()
        return Outcome(rid, load_balancer_outputs(rid, str(address.ip)), local)

    def destroy(self, record: Record) -> None:
        balancer.stop(self.cloud.stack, record.local["name"], Path(record.local["dir"]))


class FirewallStandIn(StandIn):
    """A firewall is its tags and rules, rendered with every other firewall into the stack's nftables table."""

    affects_rules = True

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        cloud = self.cloud
        rid = previous.id if previous is not None and decision.action != Action.REPLACED else self.fresh_id(args)
        local = {
            "tags": sorted(str(t) for t in args.inputs.get("tags") or []),
            "inboundRules": list(args.inputs.get("inboundRules") or []),
        }
        with cloud.lock:
            cloud.state.put(Record(FIREWALL, args.name, rid, {}, {}, local))
            cloud.refresh_rules()
        return Outcome(rid, firewall_outputs(), local)


class CommandStandIn(StandIn):
    """A Command runs its create (or update) line over SSH, and its delete line when it goes."""

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        cloud = self.cloud
        inputs = args.inputs
        conn = ssh.connection_from_inputs(inputs)
        local = {
            "host": conn.host, "user": conn.user, "port": conn.port, "hostKey": conn.host_key,
            "delete": inputs.get("delete") or "",
        }
        reruns = decision.action in (Action.CREATED, Action.REPLACED) or any(
            k in COMMAND_RUN_INPUTS for k in decision.changed
        )
        if previous is not None and not reruns:
            return Outcome(previous.id, previous.outputs, local)
        line = str(inputs["create"])
        if decision.action == Action.UPDATED and inputs.get("update"):
            line = str(inputs["update"])
        stdout, stderr = ssh.run_command(
            conn, line, inputs.get("stdin"), dict(inputs.get("environment") or {}), cloud.secrets
        )
        if decision.action == Action.REPLACED and previous is not None:
            self.destroy(previous)
        rid = previous.id if previous is not None and decision.action == Action.UPDATED else self.fresh_id(args)
        return Outcome(rid, command_outputs(stdout, stderr), local)

    def destroy(self, record: Record) -> None:
        """Run the delete line, if there is one; a host that no longer answers is reported, not fatal."""
        local = record.local
        if not local.get("delete"):
            return
        cloud = self.cloud
        conn = ssh.Connection(
            local["host"], local["user"], int(local["port"]), cloud.deploy_key, 3, 5, local.get("hostKey"),
        )
        try:
            ssh.run_command(conn, str(local["delete"]), None, {}, cloud.secrets)
        except ssh.RemoteError as error:
            cloud.say(f"  delete of {record.name} did not run: {error}")


class CopyToRemoteStandIn(StandIn):
    """A CopyToRemote copies its asset or archive over SSH; the copy stays when the resource goes."""

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        conn = ssh.connection_from_inputs(args.inputs)
        if previous is not None and decision.action == Action.KEPT:
            return Outcome(previous.id, previous.outputs, previous.local)
        ssh.copy_to_remote(conn, args.inputs["source"], str(args.inputs["remotePath"]), self.cloud.secrets)
        return Outcome(self.fresh_id(args), {}, {"host": conn.host})


class LocalCommandStandIn(StandIn):
    """A local Command runs on this host, where `pulumi up` runs: from the internet namespace, as a visitor.

    It trusts the certificates the local cloud issued, as a real deployer
    trusts Let's Encrypt's (curl reads CURL_CA_BUNDLE).
    """

    def create(self, args: MockResourceArgs, decision: Decision, previous: Record | None) -> Outcome:
        inputs = args.inputs
        reruns = decision.action in (Action.CREATED, Action.REPLACED) or any(
            k in COMMAND_RUN_INPUTS for k in decision.changed
        )
        if previous is not None and not reruns:
            return Outcome(previous.id, previous.outputs, {})
        line = str(inputs["update"] if decision.action == Action.UPDATED and inputs.get("update") else inputs["create"])
        env = {"PATH": LOCAL_PATH, "LANG": "C.UTF-8", **{str(k): str(v) for k, v in (inputs.get("environment") or {}).items()}}
        bundle = certificate.trusted_bundle(self.cloud.stack_dir)
        if bundle is not None:
            env["CURL_CA_BUNDLE"] = str(bundle)
        done = subprocess.run(
            ["ip", "netns", "exec", INTERNET_NETNS, "/bin/sh", "-c", line],
            input=str(inputs.get("stdin") or "").encode(), capture_output=True, env=env, check=False,
        )
        stdout = ssh.mask(done.stdout.decode(errors="replace"), self.cloud.secrets).rstrip("\n")
        stderr = ssh.mask(done.stderr.decode(errors="replace"), self.cloud.secrets).rstrip("\n")
        if done.returncode != 0:
            raise LocalCloudError(f"exited {done.returncode}:\n{(stderr or stdout)[-4000:]}")
        rid = previous.id if previous is not None and decision.action == Action.UPDATED else self.fresh_id(args)
        return Outcome(rid, command_outputs(stdout, stderr), {})


class LocalCloud(Mocks):
    """Plays every resource type the program registers through the one stand-in for that type."""

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
        self.scale = limits.scale()
        self.state = StackState(stack_dir / "state.json")
        self.seen: set[str] = set()
        self.reports: list[Report] = []
        self.lock = threading.RLock()
        recorded = RecordedStandIn(self)
        self.stand_ins: dict[str, StandIn] = {
            VPC: VpcStandIn(self),
            DROPLET: DropletStandIn(self),
            VOLUME: VolumeStandIn(self),
            SPACES_BUCKET: SpacesBucketStandIn(self),
            VOLUME_ATTACHMENT: VolumeAttachmentStandIn(self),
            LOAD_BALANCER: LoadBalancerStandIn(self),
            FIREWALL: FirewallStandIn(self),
            COMMAND: CommandStandIn(self),
            COPY_TO_REMOTE: CopyToRemoteStandIn(self),
            LOCAL_COMMAND: LocalCommandStandIn(self),
            DNS_RECORD: DnsRecordStandIn(self),
            **dict.fromkeys(RECORDED_ONLY, recorded),
        }

    # -- the Mocks interface -------------------------------------------------

    def new_resource(self, args: MockResourceArgs) -> tuple[str, dict[str, Any]]:
        if not args.custom:
            return "", dict(args.inputs)  # a component: nothing runs for it
        stand_in = self.stand_ins.get(args.typ)
        if stand_in is None:
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
            outcome = stand_in.create(args, decision, previous)
        except Exception as error:
            raise LocalCloudError(f"{decision.action.value} {args.typ} {args.name} failed: {error}") from None
        with self.lock:
            self.state.put(Record(args.typ, args.name, outcome.id, digests, dict(outcome.outputs), dict(outcome.local)))
            note = ", ".join(decision.changed) if decision.action in (Action.UPDATED, Action.REPLACED) else ""
            note = "; ".join(n for n in (note, outcome.note) if n)
            self._report(Report(key, decision.action, time.monotonic() - started, note))
        return outcome.id, {**raw_inputs, **outcome.outputs}

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        raise UnsupportedResource(f"the local cloud has no stand-in for function {args.token}")

    # -- after the program ---------------------------------------------------

    def finish(self) -> None:
        """Destroy what the program no longer registers, then render the rules for what remains."""
        gone = [r for r in self.state.records.values() if r.key not in self.seen]
        for record in destroy_order(gone):
            protection = self.stand_ins[record.type].protection
            if protection:
                self._report(Report(record.key, Action.REFUSED, 0.0, protection))
                continue
            started = time.monotonic()
            self.destroy(record)
            self._report(Report(record.key, Action.DESTROYED, time.monotonic() - started))
        with self.lock:
            self.refresh_rules()

    def destroy_all(self) -> None:
        """Destroy every resource of the stack; a volume's directory (its data) stays."""
        for record in destroy_order(list(self.state.records.values())):
            started = time.monotonic()
            self.destroy(record)
            self._report(Report(record.key, Action.DESTROYED, time.monotonic() - started))
        firewall.remove(self.stack)

    def destroy(self, record: Record) -> None:
        stand_in = self.stand_ins[record.type]
        stand_in.destroy(record)
        with self.lock:
            self.state.drop(record)
            if stand_in.affects_rules:
                self.refresh_rules()

    # -- what the stand-ins share --------------------------------------------

    def _report(self, report: Report) -> None:
        with self.lock:
            self.reports.append(report)
            self.say(report.line())

    def network_of(self, vpc: Record) -> Network:
        return Network(self.stack, IPv4Network(vpc.local["cidr"]))

    def vpc_by_id(self, vpc_id: str) -> Record:
        with self.lock:
            for record in self.state.of_type(VPC):
                if record.id == vpc_id:
                    return record
        raise LocalCloudError(f"no VPC with id {vpc_id}")

    def droplet_by_id(self, droplet_id: str) -> Record | None:
        with self.lock:
            return next((r for r in self.state.of_type(DROPLET) if r.id == str(droplet_id)), None)

    def allocate(self, network: Network, avoid: Sequence[str] = ()) -> IPv4Interface:
        """The lowest free host address of the VPC (the host holds the first)."""
        with self.lock:
            used = {str(r.local.get("address")) for r in self.state.records.values() if r.local.get("address")}
            used.update(avoid)
            for n in range(2, network.cidr.num_addresses - 1):
                candidate = network.address(n)
                if str(candidate) not in used:
                    return candidate
        raise LocalCloudError(f"VPC {network.cidr} has no free address")

    def refresh_rules(self) -> None:
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
            network = self.network_of(self.vpc_by_id(record.local["vpc"]))
            balancer.ensure(spec, network, IPv4Interface(record.local["address"]), servers, Path(record.local["dir"]))
