"""The load generators' own CPU, capped, so they do not take the cores the servers are measured on.

Each generator runs in a cgroup of its own with a CFS quota (cgroup v2's
cpu.max, or v1's cpu.cfs_quota_us where the host mounts v1), entered by the
shell that then execs it; the cgroup is removed once it is empty.
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
PERIOD_US = 100_000


class NoCpuCap(RuntimeError):
    """Neither cgroup v2's nor v1's cpu controller is writable here."""


@dataclass(frozen=True)
class CpuCap:
    """A cgroup holding at most `cores` CPUs' worth of time."""

    path: Path
    cores: float

    @property
    def quota_us(self) -> int:
        return int(self.cores * PERIOD_US)

    def wrap(self, argv: list[str]) -> list[str]:
        """`argv` run inside the cgroup: a shell puts itself there, then becomes the command."""
        procs = self.path / "cgroup.procs"
        return ["sh", "-c", f'echo $$ > {shlex.quote(str(procs))} && exec "$@"', "capped", *argv]

    def remove(self) -> None:
        try:
            self.path.rmdir()
        except OSError:
            pass


def _controller(root: Path) -> tuple[Path, str] | None:
    """Where a new cgroup with a cpu quota can go, and the file the quota is written to."""
    v2 = root / "cgroup.controllers"
    if v2.is_file() and "cpu" in v2.read_text().split():
        return root, "cpu.max"
    unified = root / "unified" / "cgroup.controllers"
    if unified.is_file() and "cpu" in unified.read_text().split():
        return root / "unified", "cpu.max"
    if (root / "cpu" / "cpu.cfs_quota_us").is_file():
        return root / "cpu", "cpu.cfs_quota_us"
    return None


def quota_line(quota_file: str, cores: float) -> str:
    """What the quota file takes for `cores`: v2 "quota period", v1 the quota alone (period 100 ms either way)."""
    quota = int(cores * PERIOD_US)
    return f"{quota} {PERIOD_US}\n" if quota_file == "cpu.max" else f"{quota}\n"


def cap(name: str, cores: float, root: Path = CGROUP_ROOT) -> CpuCap:
    found = _controller(root)
    if found is None:
        raise NoCpuCap(f"no cgroup cpu controller under {root}: the load generators would run uncapped")
    base, quota_file = found
    path = base / f"django-tiers-bench-{name}-{os.getpid()}"
    path.mkdir(exist_ok=True)
    if quota_file == "cpu.cfs_quota_us":
        (path / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
    (path / quota_file).write_text(quota_line(quota_file, cores))
    return CpuCap(path, cores)
