"""A droplet's size as cgroup limits: the scale factor, where each controller lives, what a cgroup's files mean."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from localcloud import limits


@pytest.mark.parametrize(
    ("slug", "factor", "expected"),
    [
        ("s-1vcpu-1gb", 1.0, limits.Limits(1, 1024)),
        ("s-2vcpu-4gb", 1.0, limits.Limits(2, 4096)),
        ("s-2vcpu-4gb", 0.5, limits.Limits(1, 2048)),
        ("s-1vcpu-2gb", 0.25, limits.Limits(0.25, 512)),
    ],
)
def test_a_size_becomes_a_quota_and_a_limit(slug: str, factor: float, expected: limits.Limits) -> None:
    assert limits.for_size(slug, factor) == expected


@pytest.mark.parametrize("text", ["0", "-1", "1.5", "half", ""])
def test_a_scale_outside_zero_to_one_is_refused(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv(limits.SCALE_ENV, text)
    with pytest.raises(limits.LimitError, match=f"{limits.SCALE_ENV}={text!r}: a number above 0 and at most 1"):
        limits.scale()


def test_the_scale_defaults_to_the_real_size(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(limits.SCALE_ENV, raising=False)
    assert limits.scale() == 1.0
    monkeypatch.setenv(limits.SCALE_ENV, "0.5")
    assert limits.for_size("s-1vcpu-2gb") == limits.Limits(0.5, 1024)


def _mounts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lines: list[str], unified: str = "") -> Path:
    mounts = tmp_path / "mounts"
    mounts.write_text("".join(f"{line}\n" for line in lines))
    monkeypatch.setattr(limits, "_MOUNTS", mounts)
    (tmp_path / "unified").mkdir()
    (tmp_path / "unified" / "cgroup.controllers").write_text(unified + "\n")
    return tmp_path / "unified"


def test_v1_hierarchies_win_over_the_unified_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _mounts(tmp_path, monkeypatch, [
        "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0",
        "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0",
        f"cgroup2 {tmp_path / 'unified'} cgroup2 rw 0 0",
    ], unified="cpu memory hugetlb")
    found = limits.hierarchies()
    assert found == {
        "cpu": limits.Hierarchy("cpu", Path("/sys/fs/cgroup/cpu"), False),
        "memory": limits.Hierarchy("memory", Path("/sys/fs/cgroup/memory"), False),
    }


def test_a_v2_host_uses_the_unified_hierarchy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unified = _mounts(tmp_path, monkeypatch, [f"cgroup2 {tmp_path / 'unified'} cgroup2 rw 0 0"], unified="cpuset cpu io memory pids")
    assert limits.hierarchies() == {
        "cpu": limits.Hierarchy("cpu", unified, True),
        "memory": limits.Hierarchy("memory", unified, True),
    }


def test_a_host_without_a_memory_controller_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _mounts(tmp_path, monkeypatch, [f"cgroup2 {tmp_path / 'unified'} cgroup2 rw 0 0"], unified="cpu pids")
    with pytest.raises(limits.LimitError, match="no cgroup hierarchy with the memory controller"):
        limits.hierarchies()


@pytest.mark.parametrize(
    ("files", "unified", "cpus", "memory"),
    [
        ({"cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000", "memory.limit_in_bytes": str(512 << 20)}, False, 0.5, 512),
        ({"cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000", "memory.limit_in_bytes": "9223372036854771712"}, False, None, None),
        ({"cpu.max": "200000 100000", "memory.max": str(4096 << 20)}, True, 2.0, 4096),
        ({"cpu.max": "max 100000", "memory.max": "max"}, True, None, None),
        ({}, True, None, None),
    ],
)
def test_a_cgroups_files_read_as_the_kernel_means_them(
    tmp_path: Path, files: dict[str, str], unified: bool, cpus: float | None, memory: int | None
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text + "\n")
    assert limits._cpu_quota(tmp_path, unified) == cpus
    assert limits._memory_limit(tmp_path, unified) == memory


def _v1_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A v1 host in `tmp_path`: cpu and memory hierarchies, this process in the root cgroup of each."""
    cpu, memory = tmp_path / "cpu", tmp_path / "memory"
    for mount in (cpu, memory):
        mount.mkdir()
    _mounts(tmp_path, monkeypatch, [f"cgroup {cpu} cgroup rw,cpu 0 0", f"cgroup {memory} cgroup rw,memory 0 0"])
    monkeypatch.setattr(limits.Hierarchy, "own", lambda self, pid="self": self.mount)
    return cpu, memory


def _v2_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, controllers: str) -> Path:
    """A v2 host in `tmp_path` offering `controllers`, this process in its root, the local cloud's parent made."""
    unified = _mounts(tmp_path, monkeypatch, [f"cgroup2 {tmp_path / 'unified'} cgroup2 rw 0 0"], unified=controllers)
    (unified / limits.PARENT).mkdir()
    for directory in (unified, unified / limits.PARENT):
        (directory / "cgroup.subtree_control").write_text("\n")
    monkeypatch.setattr(limits.Hierarchy, "own", lambda self, pid="self": self.mount)
    return unified


def test_a_droplets_v1_cgroups_hold_its_quota_and_its_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, memory = _v1_host(tmp_path, monkeypatch)
    joins = limits.create("box-1", limits.Limits(0.5, 512))
    assert joins == (cpu / "localcloud" / "box-1" / "cgroup.procs", memory / "localcloud" / "box-1" / "cgroup.procs")
    made = {p.relative_to(tmp_path).as_posix(): p.read_text() for p in tmp_path.rglob("*") if p.is_file() and "box-1" in p.parts}
    assert made == {
        "cpu/localcloud/box-1/cpu.cfs_period_us": "100000",
        "cpu/localcloud/box-1/cpu.cfs_quota_us": "50000",
        "memory/localcloud/box-1/memory.limit_in_bytes": str(512 << 20),
    }


def test_a_droplets_v2_cgroup_holds_its_quota_and_its_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unified = _v2_host(tmp_path, monkeypatch, "cpu memory pids")
    joins = limits.create("box-1", limits.Limits(2, 4096))
    directory = unified / "localcloud" / "box-1"
    assert joins == (directory / "cgroup.procs",), "one cgroup in the unified hierarchy, joined once"
    assert {p.name: p.read_text() for p in directory.iterdir()} == {"cpu.max": "200000 100000", "memory.max": str(4096 << 20)}


def test_a_booted_machine_has_a_cgroup_of_its_own_where_its_systemd_tracks_units(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hybrid host: cpu and memory in v1, systemd's units in name=systemd and in the unified hierarchy."""
    cpu, memory, named = tmp_path / "cpu", tmp_path / "memory", tmp_path / "systemd"
    for mount in (cpu, memory, named):
        mount.mkdir()
    unified = _mounts(tmp_path, monkeypatch, [
        f"cgroup {cpu} cgroup rw,cpu 0 0",
        f"cgroup {memory} cgroup rw,memory 0 0",
        f"cgroup {named} cgroup rw,xattr,name=systemd 0 0",
        f"cgroup2 {tmp_path / 'unified'} cgroup2 rw 0 0",
    ])
    monkeypatch.setattr(limits.Hierarchy, "own", lambda self, pid="self": self.mount)
    own = ("localcloud", "box-1", "cgroup.procs")
    assert limits.create("box-1", limits.Limits(1, 1024), systemd=True) == tuple(
        m.joinpath(*own) for m in (cpu, memory, named, unified)
    )
    assert limits.create("db-1", None, systemd=True) == (named.joinpath("localcloud", "db-1", "cgroup.procs"),
                                                          unified.joinpath("localcloud", "db-1", "cgroup.procs"))
    assert limits.create("bench-wrk", limits.Limits(0.5)) == (cpu.joinpath("localcloud", "bench-wrk", "cgroup.procs"),)
    assert not (unified / "localcloud" / "box-1" / "cgroup.subtree_control").exists(), "no controller turned on"


def test_on_a_v2_host_the_limits_cgroup_is_the_one_systemd_tracks_units_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unified = _v2_host(tmp_path, monkeypatch, "cpu memory pids")
    assert limits.create("box-1", limits.Limits(1, 1024), systemd=True) == (unified / "localcloud" / "box-1" / "cgroup.procs",)


def test_a_cpu_only_limit_makes_a_quota_and_no_memory_cgroup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu, memory = _v1_host(tmp_path, monkeypatch)
    joins = limits.create("bench-wrk", limits.Limits(0.5))
    assert joins == (cpu / "localcloud" / "bench-wrk" / "cgroup.procs",)
    assert (joins[0].parent / "cpu.cfs_quota_us").read_text() == "50000"
    assert (joins[0].parent / "cpu.cfs_period_us").read_text() == "100000"
    assert not any(memory.iterdir()), "no cgroup in the memory hierarchy"


def test_a_cpu_only_limit_needs_no_memory_controller(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    unified = _v2_host(tmp_path, monkeypatch, "cpu pids")
    joins = limits.create("bench-wrk", limits.Limits(0.25))
    assert joins == (unified / "localcloud" / "bench-wrk" / "cgroup.procs",)
    assert {p.name: p.read_text() for p in joins[0].parent.iterdir()} == {"cpu.max": "25000 100000"}
    with pytest.raises(limits.LimitError, match="no cgroup hierarchy with the memory controller"):
        limits.create("box-1", limits.Limits(0.25, 512))


def test_the_joined_command_puts_itself_in_every_cgroup_then_runs(tmp_path: Path) -> None:
    joins = (tmp_path / "cpu.procs", tmp_path / "memory.procs")
    done = subprocess.run(limits.join_argv(joins, ["sh", "-c", "echo ran $$"]), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    pids = {p.read_text().strip() for p in joins}
    assert pids == {done.stdout.removeprefix("ran ").strip()}, "the command is the process that joined (exec, no fork)"


def test_a_stopped_machines_cgroups_are_removed_with_those_made_inside(tmp_path: Path) -> None:
    joins = (tmp_path / "cpu" / "box-1" / "cgroup.procs", tmp_path / "memory" / "box-1" / "cgroup.procs")
    (tmp_path / "cpu" / "box-1" / "system.slice" / "nginx.service").mkdir(parents=True)
    (tmp_path / "memory" / "box-1").mkdir(parents=True)
    limits.remove(joins)
    assert not any(p.parent.exists() for p in joins)
