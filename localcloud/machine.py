"""Droplets as systemd-nspawn machines: overlay root, NoCloud seed, boot, exec, stop.

A machine boots the cached image through an overlay (its own writable upper
layer), with the user-data written byte for byte into the NoCloud seed so
cloud-init sees exactly what DigitalOcean would hand it. Each running machine
is recorded as JSON under the state directory, so a later process finds it
again and does not reboot it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from hashlib import sha256
from ipaddress import IPv4Interface
from pathlib import Path

import yaml

from localcloud import limits
from localcloud.host import (
    cache_dir,
    mounts_under,
    require_root,
    run,
    state_dir,
    unmount_under,
)
from localcloud.image import APT_MOUNT, WHEELHOUSE_MOUNT, Image
from localcloud.network import Network, attach, create_network, detach

SEED_DIR = "var/lib/cloud/seed/nocloud"
RESULT_FILE = "var/lib/cloud/data/result.json"
PROPAGATE_DIR = Path("/run/systemd/nspawn/propagate")
GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
POLL_SECONDS = 0.2
INOTIFY_INSTANCES = Path("/proc/sys/fs/inotify/max_user_instances")
DROPLET_INOTIFY_INSTANCES = 128
"""What a droplet's own kernel lets its root open (Linux's default). Every machine here runs as the host's root,
so they all draw on one per-user count: a pool's `up` holds 90 at its peak."""
# nspawn processes this process started: polled so they are reaped, not left as zombies.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


class MachineError(RuntimeError):
    """A machine did not boot, died, or did not finish cloud-init in time."""


@dataclass(frozen=True)
class Bind:
    """A host directory shown inside the machine (a volume's stand-in, a package source)."""

    source: Path
    target: str
    read_only: bool = False

    def nspawn_arg(self) -> str:
        flag = "--bind-ro" if self.read_only else "--bind"
        return f"{flag}={self.source}:{self.target}"


@dataclass(frozen=True)
class MachineSpec:
    """What a droplet is made from: name, VPC address, user-data, image and extra disks."""

    name: str
    network: Network
    address: IPv4Interface
    user_data: bytes
    image: Image
    wheelhouse: Path | None = None
    binds: tuple[Bind, ...] = ()
    hostname: str = ""
    """The name the machine calls itself (a droplet's name); `name` when empty, which must be unique on the host."""
    limits: limits.Limits | None = None
    """The droplet's size as a CPU quota and a memory limit; None runs it unbounded."""
    prepare: Callable[[Path], None] | None = None
    """Changes to the machine's root before it boots: what the host's stand-ins need it to trust or find."""

    @property
    def instance_id(self) -> str:
        """Changes whenever DigitalOcean would replace the droplet (new user-data or image)."""
        h = sha256(self.name.encode() + b"\0" + self.image.digest.encode() + b"\0" + self.user_data)
        return f"i-{h.hexdigest()[:16]}"

    def all_binds(self) -> tuple[Bind, ...]:
        sources = [Bind(self.image.apt_repo, APT_MOUNT, read_only=True)]
        if self.wheelhouse is not None:
            sources.append(Bind(self.wheelhouse, WHEELHOUSE_MOUNT, read_only=True))
        return (*sources, *self.binds)


@dataclass(frozen=True)
class MachineState:
    """A booted machine as recorded on disk: enough to find, enter and stop it later."""

    name: str
    instance_id: str
    pid: int
    leader: int
    address: str
    boot_id: str
    root: str
    started_at: float
    cgroups: tuple[str, ...] = ()
    """The cgroup.procs files of the machine's own cgroups (its limits', its systemd's trees); removed with it."""

    @property
    def root_path(self) -> Path:
        return Path(self.root)


@dataclass(frozen=True)
class CloudInitResult:
    """cloud-init's own verdict (result.json) and how long the machine took to reach it."""

    datasource: str
    errors: tuple[str, ...]
    seconds: float


def machine_state_dir(name: str) -> Path:
    return state_dir() / "machines" / name


def machine_disk_dir(name: str) -> Path:
    """Upper and work layers live beside the image cache, not in /run: packages land there."""
    return cache_dir() / "machines" / name


def load_state(name: str) -> MachineState | None:
    path = machine_state_dir(name) / "state.json"
    if not path.is_file():
        return None
    fields = json.loads(path.read_text())
    return MachineState(**{**fields, "cgroups": tuple(fields.get("cgroups", ()))})


def is_running(state: MachineState) -> bool:
    """True when the recorded nspawn process and the machine's PID 1 are both alive."""
    return _alive(state.pid, f"--machine={state.name}") and _alive(state.leader)


def running_machines() -> list[MachineState]:
    base = state_dir() / "machines"
    states = (load_state(p.name) for p in sorted(base.iterdir())) if base.is_dir() else ()
    return [s for s in states if s is not None and is_running(s)]


def _leave_inotify_room(machines: int) -> None:
    """Raise the host's per-user inotify instances to a droplet's worth per machine, and one more for the host; never lower them."""
    wanted = DROPLET_INOTIFY_INSTANCES * (machines + 1)
    if int(INOTIFY_INSTANCES.read_text()) < wanted:
        INOTIFY_INSTANCES.write_text(f"{wanted}\n")


def start(spec: MachineSpec) -> MachineState:
    """Boot a fresh machine for `spec` in the background; returns once its PID 1 exists."""
    require_root()
    teardown(spec.name)
    _leave_inotify_room(len(running_machines()) + 1)
    create_network(spec.network)
    attach(spec.network, spec.name, spec.address)
    disks = machine_disk_dir(spec.name)
    root, upper, work = disks / "root", disks / "upper", disks / "work"
    for directory in (root, upper, work):
        directory.mkdir(parents=True)
    run(
        [
            "mount", "-t", "overlay", "overlay", "-o",
            f"lowerdir={spec.image.rootfs},upperdir={upper},workdir={work}", str(root),
        ]
    )
    _write_seed(root, spec)
    if spec.prepare is not None:
        spec.prepare(root)
    _share_propagation(spec.name)
    statedir = machine_state_dir(spec.name)
    statedir.mkdir(parents=True, exist_ok=True)
    argv = [
        "systemd-nspawn", "-D", str(root), f"--machine={spec.name}", "--boot", "--register=no",
        "--keep-unit", "--console=pipe", f"--network-namespace-path=/run/netns/{spec.name}",
        "--resolv-conf=off", "--timezone=off", "--link-journal=no",
        *(b.nspawn_arg() for b in spec.all_binds()),
    ]
    joins = limits.create(spec.name, spec.limits, systemd=True)
    if joins:
        argv = limits.join_argv(joins, argv)
    with open(statedir / "console.log", "wb") as log:
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    _CHILDREN[proc.pid] = proc
    leader = _wait_leader(proc, spec.name)
    state = MachineState(
        name=spec.name,
        instance_id=spec.instance_id,
        pid=proc.pid,
        leader=leader,
        address=str(spec.address),
        boot_id=_read_boot_id(leader),
        root=str(root),
        started_at=time.time(),
        cgroups=tuple(map(str, joins)),
    )
    (statedir / "state.json").write_text(json.dumps(asdict(state), indent=2) + "\n")
    return state


def wait_cloud_init(state: MachineState, timeout: float = 300) -> CloudInitResult:
    """Poll the machine's result.json (written when cloud-init's last stage ends)."""
    result = state.root_path / RESULT_FILE
    deadline = time.monotonic() + timeout
    while True:
        if result.is_file():
            try:
                v1 = json.loads(result.read_text())["v1"]
            except (json.JSONDecodeError, KeyError):
                v1 = None
            if v1 is not None:
                return CloudInitResult(
                    datasource=str(v1.get("datasource")),
                    errors=tuple(str(e) for e in v1.get("errors", [])),
                    seconds=round(time.time() - state.started_at, 1),
                )
        if not is_running(state):
            raise MachineError(f"{state.name} stopped before cloud-init finished:\n{console_tail(state.name)}")
        if time.monotonic() > deadline:
            raise MachineError(f"{state.name}: cloud-init not done after {timeout:.0f}s:\n{console_tail(state.name)}")
        time.sleep(POLL_SECONDS)


def ensure_running(specs: Iterable[MachineSpec], timeout: float = 300) -> dict[str, MachineState]:
    """Make every spec's machine run with cloud-init done, booting the missing ones in parallel.

    A machine already running with the same instance id is left alone (its
    boot id does not change); one with another instance id is replaced, as a
    droplet whose user-data changed would be.
    """
    require_root()
    states: dict[str, MachineState] = {}
    for spec in specs:
        current = load_state(spec.name)
        if current is not None and current.instance_id == spec.instance_id and is_running(current):
            states[spec.name] = current
        else:
            states[spec.name] = start(spec)
    for state in states.values():
        wait_cloud_init(state, timeout)
    return states


def run_in(
    state: MachineState,
    argv: Sequence[str],
    *,
    input_bytes: bytes | None = None,
    check: bool = True,
    timeout: float | None = 120,
) -> subprocess.CompletedProcess[bytes]:
    """Run `argv` inside the machine (all its namespaces), as root, with a clean environment."""
    env = {"PATH": GUEST_PATH, "LANG": "C.UTF-8", "HOME": "/root", "TERM": "dumb"}
    return run(
        ["nsenter", "-t", str(state.leader), "-a", *argv],
        input_bytes=input_bytes,
        check=check,
        env=env,
        timeout=timeout,
    )


def system_state(state: MachineState, timeout: float = 150) -> tuple[str, tuple[str, ...]]:
    """What the machine's systemd says once its boot is done (`running`, `degraded`, ...), and the units that failed."""
    said = run_in(state, ["systemctl", "is-system-running", "--wait"], check=False, timeout=timeout).stdout.decode().strip()
    if said == "running":
        return said, ()
    failed = run_in(state, ["systemctl", "--failed", "--plain", "--no-legend"], check=False).stdout.decode()
    return said, tuple(line.split()[0] for line in failed.splitlines() if line.strip())


def read_boot_id(state: MachineState) -> str:
    return _read_boot_id(state.leader)


def stop(name: str, timeout: float = 60) -> None:
    """Ask nspawn for an orderly shutdown (SIGTERM), then wait; kill only if it hangs."""
    require_root()
    state = load_state(name)
    if state is None:
        return
    if _alive(state.pid, f"--machine={name}"):
        os.kill(state.pid, signal.SIGTERM)
        if not _wait_gone(state.pid, timeout):
            os.kill(state.pid, signal.SIGKILL)
            if _alive(state.leader):
                os.kill(state.leader, signal.SIGKILL)
            if not _wait_gone(state.pid, 10):
                raise MachineError(f"{name}: systemd-nspawn {state.pid} survived SIGKILL")
    _CHILDREN.pop(state.pid, None)


def teardown(name: str, timeout: float = 60) -> None:
    """Stop the machine and remove everything it had: overlay, disks, netns, nspawn leftovers, state."""
    require_root()
    state = load_state(name)
    stop(name, timeout)
    if state is not None:
        limits.remove(tuple(Path(p) for p in state.cgroups))
    if machine_disk_dir(name).exists():
        unmount_under(machine_disk_dir(name))
    detach(name)
    if (PROPAGATE_DIR / name).exists():
        unmount_under(PROPAGATE_DIR / name)
    shutil.rmtree(PROPAGATE_DIR / name, ignore_errors=True)
    shutil.rmtree(machine_disk_dir(name), ignore_errors=True)
    shutil.rmtree(machine_state_dir(name), ignore_errors=True)


def console_tail(name: str, lines: int = 40) -> str:
    log = machine_state_dir(name) / "console.log"
    if not log.is_file():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


def _share_propagation(name: str) -> None:
    """Make the machine's propagation directory a shared mount before nspawn binds it inside.

    nspawn shows it in the machine as /run/host/incoming, a slave of the
    host's copy; on a host whose / is not shared (a container, or no systemd
    as PID 1) mounts made there later would not reach the machine otherwise.
    """
    directory = PROPAGATE_DIR / name
    directory.mkdir(parents=True, exist_ok=True)
    if not mounts_under(directory):
        run(["mount", "--bind", str(directory), str(directory)])
    run(["mount", "--make-shared", str(directory)])


def _write_seed(root: Path, spec: MachineSpec) -> None:
    seed = root / SEED_DIR
    seed.mkdir(parents=True, exist_ok=True)
    hostname = spec.hostname or spec.name
    meta = yaml.safe_dump({"instance-id": spec.instance_id, "local-hostname": hostname}, sort_keys=False)
    for name, data in (("user-data", spec.user_data), ("meta-data", meta.encode())):
        path = seed / name
        path.write_bytes(data)
        path.chmod(0o600)


def _alive(pid: int, cmdline_marker: str | None = None) -> bool:
    """A live, non-zombie process (optionally whose command line holds `cmdline_marker`)."""
    child = _CHILDREN.get(pid)
    if child is not None and child.poll() is not None:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (FileNotFoundError, ProcessLookupError):
        return False
    if stat.rsplit(")", 1)[1].split()[0] in ("Z", "X"):
        return False
    return cmdline_marker is None or cmdline_marker.encode() in cmdline


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while _alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(POLL_SECONDS)
    return True


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                status = (entry / "status").read_text()
            except (FileNotFoundError, ProcessLookupError):
                continue
            ppid = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
            parents[int(entry.name)] = int(ppid)
    return parents


def descendants(pid: int) -> set[int]:
    """`pid` and every process under it: all a machine runs, from its PID 1 down."""
    parents = _parents()
    found, todo = {pid}, [pid]
    while todo:
        current = todo.pop()
        children = {child for child, parent in parents.items() if parent == current} - found
        found |= children
        todo.extend(children)
    return found


def _inner_pid(pid: int) -> int | None:
    """The pid in the innermost PID namespace (1 for a container's init)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = next((line.split()[1:] for line in status.splitlines() if line.startswith("NSpid:")), [])
    return int(fields[-1]) if len(fields) >= 2 else None


def _find_leader(nspawn_pid: int) -> int | None:
    """Walk nspawn's descendants for the one that is PID 1 of its own namespace."""
    parents = _parents()
    frontier, seen = [nspawn_pid], set()
    while frontier:
        current = frontier.pop()
        seen.add(current)
        for child, parent in parents.items():
            if parent == current and child not in seen:
                if _inner_pid(child) == 1:
                    return child
                frontier.append(child)
    return None


def _wait_leader(proc: subprocess.Popen[bytes], name: str, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise MachineError(f"{name}: systemd-nspawn exited {proc.returncode}:\n{console_tail(name)}")
        leader = _find_leader(proc.pid)
        if leader is not None and _comm(leader) == "systemd":
            return leader
        time.sleep(POLL_SECONDS / 4)
    raise MachineError(f"{name}: no PID 1 after {timeout:.0f}s:\n{console_tail(name)}")


def _comm(pid: int) -> str:
    """Process name; a container's PID 1 is "systemd" only once nspawn's setup (boot id included) is done."""
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def _read_boot_id(leader: int) -> str:
    env = {"PATH": GUEST_PATH}
    out = run(["nsenter", "-t", str(leader), "-a", "cat", "/proc/sys/kernel/random/boot_id"], env=env)
    return out.stdout.decode().strip()
