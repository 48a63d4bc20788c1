"""Two real machines booted from the cached image on a private bridge.

They run real cloud-init on their user-data, install packages from the local
repository, reach each other over the bridge, keep their boot across a second
ensure_running, and leave nothing behind after teardown.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from ipaddress import IPv4Interface, IPv4Network
from pathlib import Path

import pytest

from localcloud.host import mounts_under, state_dir
from localcloud.image import (
    APT_MOUNT,
    WHEELHOUSE_MOUNT,
    Image,
    ensure_image,
    ensure_wheelhouse,
)
from localcloud.machine import (
    DROPLET_INOTIFY_INSTANCES,
    INOTIFY_INSTANCES,
    PROPAGATE_DIR,
    SEED_DIR,
    MachineSpec,
    MachineState,
    descendants,
    ensure_running,
    is_running,
    machine_disk_dir,
    read_boot_id,
    run_in,
    system_state,
    teardown,
    wait_cloud_init,
)
from localcloud.network import (
    GUARD_TABLE,
    Network,
    ensure_internet,
    local_cloud_links,
    netns_run,
    teardown_internet,
    teardown_network,
)
from model.project import ROOT
from tests.support.machines import systemd_cgroups
from tests.support.services import require_local_cloud

pytestmark = pytest.mark.localcloud

TOOLS = ("debootstrap", "systemd-nspawn", "nsenter", "ip", "nft", "dpkg-scanpackages", "mount", "curl")
NETWORK = Network("lctest", IPv4Network("10.231.7.0/24"))
WHEEL_REQUIREMENT = "asgiref==3.8.1"
A_ADDRESS = NETWORK.address(2)
B_ADDRESS = NETWORK.address(3)
PROBE_PORT = 8080
USER_DATA_A = f"""#cloud-config
write_files:
  - path: /etc/localcloud-probe/greeting
    content: "hello from a\\n"
packages:
  - python3-venv
runcmd:
  - [systemd-run, --unit=probe-http, python3, -m, http.server, "{PROBE_PORT}", --directory, /etc/localcloud-probe]
""".encode()
USER_DATA_B = f"""#cloud-config
write_files:
  - path: /etc/memcached.conf
    content: |
      -m 32
      -p 11211
      -u memcache
      -l {B_ADDRESS.ip}
packages:
  - memcached
""".encode()


@pytest.fixture(scope="module", autouse=True)
def _requirements() -> None:
    require_local_cloud(TOOLS)


@pytest.fixture(scope="module")
def image() -> Image:
    return ensure_image()


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    requirements = tmp_path_factory.mktemp("reqs") / "requirements.txt"
    requirements.write_text(WHEEL_REQUIREMENT + "\n")
    return ensure_wheelhouse(requirements)


@pytest.fixture(scope="module")
def specs(image: Image, wheelhouse: Path) -> tuple[MachineSpec, MachineSpec]:
    return (
        MachineSpec("lct-a", NETWORK, A_ADDRESS, USER_DATA_A, image, wheelhouse=wheelhouse),
        MachineSpec("lct-b", NETWORK, B_ADDRESS, USER_DATA_B, image),
    )


@pytest.fixture(scope="module")
def machines(specs: tuple[MachineSpec, MachineSpec]) -> Iterator[tuple[MachineState, MachineState]]:
    started = time.monotonic()
    states = ensure_running(specs, timeout=240)
    print(f"two machines booted with cloud-init done in {time.monotonic() - started:.1f}s")
    yield states["lct-a"], states["lct-b"]
    _teardown_all()


def _teardown_all() -> None:
    for name in ("lct-a", "lct-b"):
        teardown(name)
    teardown_internet()
    teardown_network(NETWORK)


def _out(state: MachineState, argv: list[str]) -> str:
    return run_in(state, argv).stdout.decode()


def test_image_cached_with_offline_sources_only(image: Image) -> None:
    started = time.monotonic()
    again = ensure_image()
    assert again == image
    assert time.monotonic() - started < 5, "a cached image must not be rebuilt"
    root = image.rootfs
    sources = sorted(p.name for p in (root / "etc/apt/sources.list.d").iterdir())
    assert sources == ["localcloud.sources"]
    assert not (root / "etc/apt/sources.list").exists()
    assert f"file:{APT_MOUNT}" in (root / "etc/apt/sources.list.d/localcloud.sources").read_text()
    assert f"find-links = {WHEELHOUSE_MOUNT}" in (root / "etc/pip.conf").read_text()
    assert os.readlink(root / "etc/systemd/system/console-getty.service") == "/dev/null"
    assert not list((root / "etc/ssh").glob("ssh_host_*")), "host keys must be made per instance"
    assert (root / "etc/machine-id").read_text() == ""
    assert (root / "usr/lib/locale/locale-archive").is_file()
    index = (image.apt_repo / "Packages").read_text()
    for package in ("memcached", "nginx-light", "postgresql-15", "python3-venv"):
        assert f"Package: {package}\n" in index


def test_cloud_init_done_without_errors(machines: tuple[MachineState, MachineState]) -> None:
    for state in machines:
        assert wait_cloud_init(state, timeout=5).errors == ()
        status = run_in(state, ["cloud-init", "status", "--long"], check=False)
        assert status.returncode == 0, status.stdout.decode() + status.stderr.decode()
        assert "status: done" in status.stdout.decode()
        assert "DataSourceNoCloud" in status.stdout.decode()


def test_user_data_reaches_cloud_init_byte_for_byte(
    specs: tuple[MachineSpec, MachineSpec], machines: tuple[MachineState, MachineState]
) -> None:
    for spec, state in zip(specs, machines):
        assert (state.root_path / SEED_DIR / "user-data").read_bytes() == spec.user_data
        seen = run_in(state, ["cat", "/var/lib/cloud/instance/user-data.txt"]).stdout
        assert seen == spec.user_data
        assert _out(state, ["cat", "/var/lib/cloud/data/instance-id"]).strip() == spec.instance_id
        assert _out(state, ["hostname"]).strip() == spec.name


def test_write_files_and_packages_from_local_repo(machines: tuple[MachineState, MachineState]) -> None:
    a, b = machines
    assert _out(a, ["cat", "/etc/localcloud-probe/greeting"]) == "hello from a\n"
    assert _out(b, ["systemctl", "is-active", "memcached"]).strip() == "active"
    policy = _out(b, ["apt-cache", "policy", "memcached"])
    assert f"file:{APT_MOUNT}" in policy
    assert f"-l {B_ADDRESS.ip}" in _out(b, ["cat", "/etc/memcached.conf"]), "write_files must win over the package"


def test_private_address_found_as_on_a_droplet(machines: tuple[MachineState, MachineState]) -> None:
    for state in machines:
        shown = _out(state, ["ip", "-o", "-4", "addr", "show", "to", str(NETWORK.cidr)])
        assert f"inet {state.address} " in shown


def test_machines_reach_each_other_over_the_bridge(machines: tuple[MachineState, MachineState]) -> None:
    a, b = machines
    probe = (
        "import socket, sys\n"
        "s = socket.create_connection((sys.argv[1], 11211), timeout=5)\n"
        "s.sendall(b'version\\r\\n')\n"
        "print(s.recv(64).decode().strip())\n"
    )
    assert _out(a, ["python3", "-c", probe, str(B_ADDRESS.ip)]).startswith("VERSION ")
    fetched = run_in(
        b, ["curl", "-sf", "--max-time", "5", "--retry", "5", "--retry-connrefused", "--retry-delay", "1",
            f"http://{A_ADDRESS.ip}:{PROBE_PORT}/greeting"]
    )
    assert fetched.stdout == b"hello from a\n"


def test_host_reaches_sshd_on_every_machine(machines: tuple[MachineState, MachineState]) -> None:
    for state in machines:
        address = str(IPv4Interface(state.address).ip)
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection((address, 22), timeout=3) as conn:
                    assert conn.recv(64).startswith(b"SSH-2.0-")
                break
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def test_pip_installs_from_the_wheelhouse_only(machines: tuple[MachineState, MachineState]) -> None:
    a, _ = machines
    run_in(a, ["python3", "-m", "venv", "/tmp/probe-venv"])
    installed = run_in(a, ["/tmp/probe-venv/bin/pip", "install", "asgiref"], check=False)
    assert installed.returncode == 0, installed.stdout.decode() + installed.stderr.decode()
    assert _out(a, ["/tmp/probe-venv/bin/python", "-c", "import asgiref; print(asgiref.__version__)"]).strip() == (
        WHEEL_REQUIREMENT.split("==")[1]
    )
    missing = run_in(a, ["/tmp/probe-venv/bin/pip", "install", "left-pad-not-in-wheelhouse"], check=False)
    assert missing.returncode != 0, "pip must not reach any index"


def test_internet_namespace_is_routed_but_not_inside_the_vpc(machines: tuple[MachineState, MachineState]) -> None:
    forward_before = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    internet = ensure_internet((NETWORK,))
    assert not NETWORK.cidr.overlaps(internet.address.network)
    assert subprocess.run(["nft", "list", "table", "inet", GUARD_TABLE], capture_output=True).returncode == 0
    page = netns_run(internet.netns, ["curl", "-sf", "--max-time", "5", f"http://{A_ADDRESS.ip}:{PROBE_PORT}/greeting"])
    assert page == "hello from a\n"
    teardown_internet()
    assert not Path("/run/netns", internet.netns).exists()
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == forward_before


def test_second_ensure_running_does_not_reboot(
    specs: tuple[MachineSpec, MachineSpec], machines: tuple[MachineState, MachineState]
) -> None:
    again = ensure_running(specs, timeout=10)
    for state in machines:
        assert is_running(state)
        assert again[state.name].pid == state.pid
        assert again[state.name].boot_id == state.boot_id
        assert read_boot_id(state) == state.boot_id
    later_run = subprocess.run(
        [sys.executable, "-c", "from localcloud.machine import running_machines as r; print({m.name: m.boot_id for m in r()})"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    assert later_run.stdout.strip() == repr({state.name: state.boot_id for state in machines})
    host_boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert machines[0].boot_id != machines[1].boot_id != host_boot_id


def test_machines_keep_their_units_apart(machines: tuple[MachineState, MachineState]) -> None:
    """As droplets do: each machine's systemd has a cgroup tree of its own, and a droplet's room of inotify instances."""
    for state in machines:
        processes = {state.leader, *descendants(state.leader)}
        assert len(processes) > 3, f"{state.name}: its services run"
        for pid in processes:
            tracked = systemd_cgroups(pid)
            assert tracked and all(f"/localcloud/{state.name}/payload/" in path for path in tracked), (state.name, tracked)
        assert system_state(state) == ("running", ()), state.name
    assert int(INOTIFY_INSTANCES.read_text()) >= DROPLET_INOTIFY_INSTANCES * (len(machines) + 1)


def test_teardown_leaves_nothing_behind(machines: tuple[MachineState, MachineState]) -> None:
    pids = [pid for state in machines for pid in (state.pid, state.leader)]
    _teardown_all()
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    for state in machines:
        assert state.name not in netns
        assert not machine_disk_dir(state.name).exists()
        assert not (state_dir() / "machines" / state.name).exists()
        assert not (PROPAGATE_DIR / state.name).exists()
        assert state.cgroups and not any(Path(procs).parent.exists() for procs in state.cgroups)
    assert mounts_under(machine_disk_dir("lct-a").parent) == []
    assert local_cloud_links() == []
    assert all(not Path(f"/proc/{pid}").exists() for pid in pids)
    tables = subprocess.run(["nft", "-j", "list", "tables"], capture_output=True, text=True, check=True).stdout
    names = [t["table"]["name"] for t in json.loads(tables)["nftables"] if "table" in t]
    assert GUARD_TABLE not in names
