"""The stack's VPC as a host bridge, and one network namespace per machine.

The bridge holds the VPC's first host address and is every machine's default
gateway, as a VPC router would be. A separate "internet" namespace, on its own
bridge and subnet, reaches machines only through the host's routing, so later
firewall probes come from outside the VPC. A guard table stops anything from
the local cloud leaving through the host's real interfaces. Every create is
idempotent; teardown removes what create made.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from pathlib import Path

from localcloud.host import CommandFailed, require_root, run, state_dir
from render import templates

BRIDGE_PREFIX = "lcbr"
VETH_PREFIX = "lcv"
GUEST_IFACE = "eth0"
NETNS_DIR = Path("/run/netns")
GUARD_TABLE = "localcloud"
INTERNET_NETNS = "lc-internet"
INTERNET_BRIDGE = f"{BRIDGE_PREFIX}inet"
INTERNET_CIDR = IPv4Network("198.51.100.0/24")
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")
GUARD_TEMPLATE = "localcloud/templates/guard.nft.j2"


@dataclass(frozen=True)
class Network:
    """A stack's VPC: its name (for the bridge's name) and its CIDR."""

    name: str
    cidr: IPv4Network

    @property
    def bridge(self) -> str:
        return BRIDGE_PREFIX + hashlib.sha256(self.name.encode()).hexdigest()[:8]

    @property
    def gateway(self) -> IPv4Interface:
        """The VPC's first host address, held by the host bridge."""
        return self.address(1)

    def address(self, n: int) -> IPv4Interface:
        """The VPC's n-th host address with the VPC prefix (1 is the gateway)."""
        if not 1 <= n < self.cidr.num_addresses - 1:
            raise ValueError(f"host number {n} is outside {self.cidr}")
        return IPv4Interface(f"{self.cidr.network_address + n}/{self.cidr.prefixlen}")


@dataclass(frozen=True)
class Internet:
    """The outside world's stand-in: a namespace with one public-looking address."""

    netns: str
    address: IPv4Interface
    gateway: IPv4Interface


INTERNET = Internet(
    netns=INTERNET_NETNS,
    address=IPv4Interface(f"{INTERNET_CIDR.network_address + 2}/{INTERNET_CIDR.prefixlen}"),
    gateway=IPv4Interface(f"{INTERNET_CIDR.network_address + 1}/{INTERNET_CIDR.prefixlen}"),
)


def veth_name(netns: str) -> str:
    """Host-side veth name for a namespace: short enough for IFNAMSIZ whatever the machine name."""
    return VETH_PREFIX + hashlib.sha256(netns.encode()).hexdigest()[:10]


def netns_exists(netns: str) -> bool:
    return (NETNS_DIR / netns).exists()


def create_network(network: Network) -> None:
    """Create the VPC bridge with its gateway address, and the guard table."""
    require_root()
    _ensure_bridge(network.bridge, network.gateway)
    _ensure_guard()


def teardown_network(network: Network) -> None:
    """Remove the VPC bridge (and the guard once no local-cloud bridge is left)."""
    require_root()
    _delete_link(network.bridge)
    _drop_guard_if_unused()


def attach(network: Network, netns: str, address: IPv4Interface) -> None:
    """Give `netns` an eth0 on the VPC bridge with `address`, lo up and the bridge as default route."""
    require_root()
    if address.network != network.cidr:
        raise ValueError(f"{address} is not inside the VPC {network.cidr}")
    _plug(netns, network.bridge, address, network.gateway.ip)


def detach(netns: str) -> None:
    """Delete the namespace; its veth pair goes with it."""
    require_root()
    if netns_exists(netns):
        run(["ip", "netns", "delete", netns])
    _delete_link(veth_name(netns))


def ensure_internet(networks: tuple[Network, ...] = ()) -> Internet:
    """Create the internet namespace, routed through the host to every VPC bridge."""
    require_root()
    _ensure_bridge(INTERNET_BRIDGE, INTERNET.gateway)
    _ensure_guard()
    _plug(INTERNET.netns, INTERNET_BRIDGE, INTERNET.address, INTERNET.gateway.ip)
    saved = _forward_state_file()
    if not saved.exists():
        saved.parent.mkdir(parents=True, exist_ok=True)
        saved.write_text(json.dumps({"ip_forward": IP_FORWARD.read_text().strip()}))
    IP_FORWARD.write_text("1\n")
    for network in networks:
        create_network(network)
    return INTERNET


def teardown_internet() -> None:
    """Remove the internet namespace and bridge, and restore the host's forwarding setting."""
    require_root()
    detach(INTERNET.netns)
    _delete_link(INTERNET_BRIDGE)
    saved = _forward_state_file()
    if saved.exists():
        IP_FORWARD.write_text(json.loads(saved.read_text())["ip_forward"] + "\n")
        saved.unlink()
    _drop_guard_if_unused()


def netns_run(netns: str, argv: list[str], *, check: bool = True, timeout: float | None = 30) -> str:
    """Run a host binary inside a namespace's network (probes from the internet namespace)."""
    return run(["ip", "netns", "exec", netns, *argv], check=check, timeout=timeout).stdout.decode()


def local_cloud_links() -> list[str]:
    """Every host link this module made (bridges and veths), for teardown checks."""
    links = json.loads(run(["ip", "-j", "link", "show"]).stdout or b"[]")
    return [link["ifname"] for link in links if link["ifname"].startswith((BRIDGE_PREFIX, VETH_PREFIX))]


def _forward_state_file() -> Path:
    return state_dir() / "ip_forward.json"


def _link_exists(name: str, netns: str | None = None) -> bool:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    return run([*prefix, "link", "show", "dev", name], check=False).returncode == 0


def _delete_link(name: str, timeout: float = 5) -> None:
    """Delete a link; a veth may vanish by itself meanwhile, when its namespace goes."""
    deadline = time.monotonic() + timeout
    while _link_exists(name):
        deleted = run(["ip", "link", "delete", name], check=False)
        if deleted.returncode != 0 and _link_exists(name):
            if time.monotonic() > deadline:
                raise CommandFailed(["ip", "link", "delete", name], deleted.returncode, deleted.stderr.decode())
            time.sleep(0.05)


def _has_address(name: str, address: IPv4Interface, netns: str | None = None) -> bool:
    prefix = ["ip", "-n", netns] if netns else ["ip"]
    shown = json.loads(run([*prefix, "-j", "-4", "addr", "show", "dev", name]).stdout or b"[]")
    return any(
        info.get("local") == str(address.ip) and info.get("prefixlen") == address.network.prefixlen
        for link in shown
        for info in link.get("addr_info", [])
    )


def _ensure_bridge(name: str, address: IPv4Interface) -> None:
    if not _link_exists(name):
        run(["ip", "link", "add", name, "type", "bridge"])
    if not _has_address(name, address):
        run(["ip", "addr", "add", str(address), "dev", name])
    run(["ip", "link", "set", name, "up"])


def _plug(netns: str, bridge: str, address: IPv4Interface, gateway: IPv4Address) -> None:
    if not netns_exists(netns):
        run(["ip", "netns", "add", netns])
    host_end = veth_name(netns)
    if not _link_exists(GUEST_IFACE, netns):
        _delete_link(host_end)
        run(["ip", "link", "add", host_end, "type", "veth", "peer", "name", GUEST_IFACE, "netns", netns])
    run(["ip", "link", "set", host_end, "master", bridge, "up"])
    ns = ["ip", "-n", netns]
    run([*ns, "link", "set", "lo", "up"])
    if not _has_address(GUEST_IFACE, address, netns):
        run([*ns, "addr", "add", str(address), "dev", GUEST_IFACE])
    run([*ns, "link", "set", GUEST_IFACE, "up"])
    run([*ns, "route", "replace", "default", "via", str(gateway), "dev", GUEST_IFACE])


def _guard_rules() -> str:
    return templates.render(GUARD_TEMPLATE, table=GUARD_TABLE, bridges=f"{BRIDGE_PREFIX}*")


def _ensure_guard() -> None:
    """(Re)load the table that keeps local-cloud traffic off the host's real interfaces."""
    if run(["nft", "list", "table", "inet", GUARD_TABLE], check=False).returncode == 0:
        return
    run(["nft", "-f", "-"], input_bytes=_guard_rules().encode())


def _drop_guard_if_unused() -> None:
    if any(name.startswith(BRIDGE_PREFIX) for name in local_cloud_links()):
        return
    if run(["nft", "list", "table", "inet", GUARD_TABLE], check=False).returncode == 0:
        run(["nft", "delete", "table", "inet", GUARD_TABLE])
