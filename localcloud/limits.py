"""A droplet's size as the kernel enforces it: a cgroup per machine, its vCPUs as a CPU quota, its memory as a hard limit.

Each machine's systemd-nspawn starts inside a cgroup of its own, made below
the cgroup this process runs in, for the cpu and the memory controllers,
wherever this host mounts them: cgroup v1 (one hierarchy per controller) or
v2 (the unified one). Everything the machine runs is under it. A scale
factor (LOCALCLOUD_SCALE, default 1) shrinks every droplet alike, so a stack
fits a small host: 0.5 gives an s-1vcpu-2gb droplet half a CPU and 1 GiB.
A limit without memory is a CPU quota alone, in the cpu controller only:
the bench caps its load generators so.

A machine also gets a cgroup of its own in the hierarchies where its systemd
keeps its units (v1's name=systemd and the unified one), limits or not.
nspawn makes the machine's tree inside the cgroup it starts in; started where
another machine started, both machines' systemd would share one tree, and one
machine's `ssh.service` or `systemd-user-sessions.service` would be the
other's too: a unit's cgroup removed under a starting one (219/CGROUP), a
stop waiting on a cgroup the other machine keeps populated.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from model.sizes import SIZES

SCALE_ENV = "LOCALCLOUD_SCALE"
CONTROLLERS = ("cpu", "memory")
SYSTEMD = "name=systemd"
"""The v1 hierarchy systemd names for itself, with no controller: where a v1 or hybrid host's systemd tracks units."""
PARENT = "localcloud"
PERIOD_US = 100_000
MIB = 1024 * 1024
_MOUNTS = Path("/proc/self/mounts")
_UNLIMITED = ("max", "-1")


class LimitError(RuntimeError):
    """The host has no cgroup hierarchy for a controller, or refused a limit."""


@dataclass(frozen=True)
class Limits:
    """What a machine may use: CPUs (a quota, possibly a fraction) and memory in MiB, or no memory limit (None)."""

    cpus: float
    memory_mb: int | None = None

    def describe(self) -> str:
        return f"{self.cpus:g} CPU, {self.memory_mb} MiB"

    @property
    def controllers(self) -> tuple[str, ...]:
        """The controllers that hold these limits: cpu, and memory when there is a memory limit."""
        return CONTROLLERS if self.memory_mb is not None else ("cpu",)


def scale() -> float:
    text = os.environ.get(SCALE_ENV, "1")
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value <= 1:
        raise LimitError(f"{SCALE_ENV}={text!r}: a number above 0 and at most 1")
    return value


def for_size(slug: str, factor: float | None = None) -> Limits:
    """The limits of a droplet of size `slug`, shrunk by the scale factor."""
    size = SIZES[slug]
    factor = scale() if factor is None else factor
    return Limits(round(size.vcpus * factor, 2), int(size.memory_mb * factor))


@dataclass(frozen=True)
class Hierarchy:
    """Where one controller lives on this host."""

    controller: str
    mount: Path
    unified: bool

    def own(self, pid: int | str = "self") -> Path:
        """The cgroup process `pid` is in, in this hierarchy."""
        for line in Path(f"/proc/{pid}/cgroup").read_text().splitlines():
            number, controllers, path = line.split(":", 2)
            if (self.unified and number == "0") or (not self.unified and self.controller in controllers.split(",")):
                return self.mount / path.lstrip("/")
        raise LimitError(f"process {pid} is in no {self.controller or 'unified'} cgroup")


def _mounted() -> tuple[dict[str, Path], Path | None]:
    """The host's cgroup mounts: each v1 hierarchy by its options (controllers, name=...), and the unified one if any."""
    v1: dict[str, Path] = {}
    unified: Path | None = None
    for line in _MOUNTS.read_text().splitlines():
        _, target, kind, options = line.split()[:4]
        if kind == "cgroup":
            for option in options.split(","):
                v1.setdefault(option, Path(target))
        elif kind == "cgroup2":
            unified = Path(target)
    return v1, unified


def hierarchies(controllers: Sequence[str] = CONTROLLERS) -> dict[str, Hierarchy]:
    """For each of `controllers`, its v1 hierarchy if the host mounts one, else the unified one if it offers it."""
    v1, unified = _mounted()
    found = {}
    for controller in controllers:
        if controller in v1:
            found[controller] = Hierarchy(controller, v1[controller], False)
        elif unified is not None and controller in (unified / "cgroup.controllers").read_text().split():
            found[controller] = Hierarchy(controller, unified, True)
        else:
            raise LimitError(f"this host mounts no cgroup hierarchy with the {controller} controller")
    return found


def _write(path: Path, value: str) -> None:
    try:
        path.write_text(value)
    except OSError as error:
        raise LimitError(f"writing {value!r} to {path}: {error.strerror}") from None


def _enable(hierarchy: Hierarchy, top: Path, target: Path) -> None:
    """v2 only: the controller must be on in every subtree_control from `top` down to `target`'s parent."""
    directory = top
    for part in target.relative_to(top).parts:
        control = directory / "cgroup.subtree_control"
        if hierarchy.controller not in control.read_text().split():
            _write(control, f"+{hierarchy.controller}")
        directory = directory / part


def tracking() -> tuple[Hierarchy, ...]:
    """The hierarchies a booted machine's systemd makes its units' cgroups in: v1's name=systemd, the unified one."""
    v1, unified = _mounted()
    named = (Hierarchy(SYSTEMD, v1[SYSTEMD], False),) if SYSTEMD in v1 else ()
    return named + ((Hierarchy("", unified, True),) if unified is not None else ())


def create(name: str, limits: Limits | None, *, systemd: bool = False) -> tuple[Path, ...]:
    """Make `name`'s cgroups: one per controller `limits` need, with them, and with `systemd` one per tracking hierarchy.

    Returns the files a process writes its pid to, to join; a cgroup that
    serves both (the unified one on a v2 host) is joined once.
    """
    joins: dict[Path, None] = {}
    for controller, hierarchy in (hierarchies(limits.controllers) if limits is not None else {}).items():
        directory = _make(hierarchy, name)
        if controller == "cpu":
            quota = str(round(limits.cpus * PERIOD_US))
            if hierarchy.unified:
                _write(directory / "cpu.max", f"{quota} {PERIOD_US}")
            else:
                _write(directory / "cpu.cfs_period_us", str(PERIOD_US))
                _write(directory / "cpu.cfs_quota_us", quota)
        else:
            _write(directory / ("memory.max" if hierarchy.unified else "memory.limit_in_bytes"), str(limits.memory_mb * MIB))
        joins[directory / "cgroup.procs"] = None
    for hierarchy in tracking() if systemd else ():
        joins[_make(hierarchy, name) / "cgroup.procs"] = None
    return tuple(joins)


def _make(hierarchy: Hierarchy, name: str) -> Path:
    top = hierarchy.own()
    directory = top / PARENT / name
    directory.mkdir(parents=True, exist_ok=True)
    if hierarchy.unified and hierarchy.controller:
        _enable(hierarchy, top, directory)
    return directory


def join_argv(joins: tuple[Path, ...], argv: list[str]) -> list[str]:
    """`argv` started by a shell that first moves itself into the cgroups, so all it starts stays inside."""
    script = 'while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@"'
    return ["sh", "-c", script, "sh", *map(str, joins), "--", *argv]


def remove(joins: tuple[Path, ...], timeout: float = 10) -> None:
    """Remove a stopped machine's cgroups, the ones its systemd made inside them first."""
    for procs in joins:
        directory = procs.parent
        if not directory.is_dir():
            continue
        deadline = time.monotonic() + timeout
        while True:
            nested = sorted((p for p in directory.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
            try:
                for child in [*nested, directory]:
                    child.rmdir()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise LimitError(f"{directory} still holds processes") from None
                time.sleep(0.2)


def read_back(pid: int) -> Limits:
    """The tightest CPU quota and memory limit over the cgroups process `pid` runs in, as the kernel holds them."""
    cpus: float | None = None
    memory: int | None = None
    for controller, hierarchy in hierarchies().items():
        directory = hierarchy.own(pid)
        while True:
            if controller == "cpu":
                value = _cpu_quota(directory, hierarchy.unified)
                if value is not None:
                    cpus = value if cpus is None else min(cpus, value)
            else:
                value = _memory_limit(directory, hierarchy.unified)
                if value is not None:
                    memory = value if memory is None else min(memory, value)
            if directory == hierarchy.mount:
                break
            directory = directory.parent
    if cpus is None or memory is None:
        raise LimitError(f"process {pid} runs without a CPU quota or a memory limit")
    return Limits(round(cpus, 2), memory)


def _cpu_quota(directory: Path, unified: bool) -> float | None:
    """CPUs the cgroup's quota allows; None without a quota (a root cgroup has no file)."""
    if unified:
        if not (directory / "cpu.max").exists():
            return None
        quota, period = (directory / "cpu.max").read_text().split()
    else:
        if not (directory / "cpu.cfs_quota_us").exists():
            return None
        quota, period = ((directory / f).read_text().strip() for f in ("cpu.cfs_quota_us", "cpu.cfs_period_us"))
    return None if quota in _UNLIMITED else int(quota) / int(period)


def _memory_limit(directory: Path, unified: bool) -> int | None:
    """MiB the cgroup may hold; None without a limit (v1 writes 'none' as a huge number)."""
    path = directory / ("memory.max" if unified else "memory.limit_in_bytes")
    if not path.exists():
        return None
    text = path.read_text().strip()
    return None if text in _UNLIMITED or int(text) >= 1 << 62 else int(text) // MIB
