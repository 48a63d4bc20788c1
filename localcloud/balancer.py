"""A DigitalOcean load balancer's stand-in: HAProxy in its own namespace on the stack's bridge.

It holds a VPC address (its `ip`), so the internet namespace reaches it
through the host's routing as it reaches a droplet, and the web firewall's
source_load_balancer_uids resolve to that address. Backends are the machines
carrying the balancer's droplet tag; the file is rendered again on every run
and HAProxy reloaded gracefully (-sf) when it changed, the new process taking
the old one's listening sockets over (-x), so scaling the web tier never
drops a connection. As DigitalOcean's, it sends a droplet requests only once
it passed `healthy` checks in a row, and a reload changes no droplet's health:
see `server_states`.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Interface
from pathlib import Path
from typing import Any

from localcloud.host import run
from localcloud.network import Network, attach, detach
from render import templates

TEMPLATE = "localcloud/templates/haproxy.cfg.j2"
CONFIG_FILE = "haproxy.cfg"
PID_FILE = "haproxy.pid"
SOCKET_FILE = "haproxy.sock"
STATE_FILE = "haproxy.state"
RUNNING, STOPPED = 2, 0
"""A server's operational states, UP and DOWN, in HAProxy's server-state file."""
ADMIN_TIMEOUT = 5.0
LOG_FILE = "haproxy.log"
API_HEALTH_CHECK = {
    "protocol": "http", "port": 80, "path": "/", "checkIntervalSeconds": 10, "responseTimeoutSeconds": 5,
    "healthyThreshold": 3, "unhealthyThreshold": 5,
}
"""The check DigitalOcean gives a load balancer created without one (its OpenAPI description's defaults)."""
PROVIDER_HEALTH_CHECK = {**API_HEALTH_CHECK, "healthyThreshold": 5, "unhealthyThreshold": 3}
"""What pulumi-digitalocean sends for a field its healthcheck block leaves out: its own defaults, whose
thresholds are the API's the other way round."""


class BalancerError(RuntimeError):
    """The resource asks for something the stand-in cannot do, or HAProxy refused its configuration."""


@dataclass(frozen=True)
class HealthCheck:
    protocol: str
    port: int
    path: str
    interval: int
    response_timeout: int
    healthy: int
    unhealthy: int


@dataclass(frozen=True)
class ForwardRule:
    entry_port: int
    target_port: int

    @property
    def backend(self) -> str:
        """The HAProxy backend this rule's frontend sends to."""
        return f"web_{self.entry_port}"


@dataclass(frozen=True)
class Server:
    name: str
    address: str


@dataclass(frozen=True)
class BalancerSpec:
    stack: str
    name: str
    droplet_tag: str
    rules: tuple[ForwardRule, ...]
    healthcheck: HealthCheck


def spec_from_inputs(stack: str, inputs: Mapping[str, Any]) -> BalancerSpec:
    """Read the LoadBalancer resource's inputs, with DigitalOcean's defaults where it leaves one out."""
    rules = []
    for rule in inputs.get("forwardingRules") or []:
        if rule.get("entryProtocol") != "http" or rule.get("targetProtocol") != "http":
            raise BalancerError(
                f"load balancer {inputs.get('name')}: {rule.get('entryProtocol')} forwarding needs a certificate "
                "the local cloud cannot issue; local stacks run without a domain"
            )
        rules.append(ForwardRule(int(rule["entryPort"]), int(rule["targetPort"])))
    if not inputs.get("dropletTag"):
        raise BalancerError(f"load balancer {inputs.get('name')}: only backends by dropletTag are emulated")
    given = inputs.get("healthcheck")
    check = {**PROVIDER_HEALTH_CHECK, **given} if given else API_HEALTH_CHECK
    return BalancerSpec(
        stack=stack,
        name=str(inputs["name"]),
        droplet_tag=str(inputs["dropletTag"]),
        rules=tuple(rules),
        healthcheck=HealthCheck(
            protocol=str(check["protocol"]),
            port=int(check["port"]),
            path=str(check["path"]),
            interval=int(check["checkIntervalSeconds"]),
            response_timeout=int(check["responseTimeoutSeconds"]),
            healthy=int(check["healthyThreshold"]),
            unhealthy=int(check["unhealthyThreshold"]),
        ),
    )


def netns_name(stack: str, name: str) -> str:
    return f"{stack}--lb-{name}"


def render(spec: BalancerSpec, address: IPv4Interface, servers: Sequence[Server], directory: Path) -> str:
    """HAProxy's configuration; its pid file, admin socket and server-state file are in `directory`."""
    return templates.render(
        TEMPLATE, stack=spec.stack, name=spec.name, droplet_tag=spec.droplet_tag, rules=spec.rules,
        healthcheck=spec.healthcheck, address=address.ip, pidfile=directory / PID_FILE,
        socket=directory / SOCKET_FILE, state_file=directory / STATE_FILE,
        servers=sorted(servers, key=lambda s: s.name),
    )


def server_states(
    spec: BalancerSpec, servers: Sequence[Server], saved: Mapping[tuple[str, str], tuple[str, int]]
) -> str:
    """The server-state file HAProxy applies as it starts: UP for a server that was UP, DOWN for any other.

    `saved` is what the running HAProxy reported: (backend, server name) -> (address, operational state). A
    server it had UP at the same address stays UP; a new one, or one at another address (a replaced droplet),
    starts DOWN and gets no request before `healthy` passing checks, as DigitalOcean treats a droplet it has
    not checked yet. Without this file HAProxy 2.6 counts a server it never checked as UP, and on a reload
    every server UP again until it fails a check; its `init-state` keyword came later.

    The lines are version 1 of what `show servers state` prints (HAProxy 2.6 management guide, 9.3), matched
    by backend and server name. After the operational state: not in maintenance, weight 1 of 1, unchanged for
    0 s, not checked yet (status INI, result unknown, health 0), checks configured and enabled, no agent, ids
    not forced, no FQDN, the server's port, no SRV record.
    """
    lines = ["1"]
    for rule in spec.rules:
        for server in sorted(servers, key=lambda s: s.name):
            state = RUNNING if saved.get((rule.backend, server.name)) == (server.address, RUNNING) else STOPPED
            lines.append(
                f"0 {rule.backend} 0 {server.name} {server.address} {state} 0 1 1 0 1 0 0 6 0 0 0 - {rule.target_port} -"
            )
    return "\n".join(lines) + "\n"


def parse_server_states(dump: str) -> dict[tuple[str, str], tuple[str, int]]:
    """`show servers state` as (backend, server name) -> (address, operational state)."""
    lines = dump.splitlines()
    if not lines or lines[0].strip() != "1":
        raise BalancerError(f"HAProxy's server states are not in format 1: {dump[:200]!r}")
    states = {}
    for line in lines[1:]:
        fields = line.split()
        if fields and not fields[0].startswith("#"):
            states[(fields[1], fields[3])] = (fields[4], int(fields[5]))
    return states


def saved_states(path: Path, timeout: float = ADMIN_TIMEOUT) -> dict[tuple[str, str], tuple[str, int]]:
    """The running HAProxy's server states, asked on its admin socket at `path` within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    received = bytearray()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as admin:
            admin.settimeout(timeout)
            admin.connect(str(path))
            admin.sendall(b"show servers state\n")
            while chunk := admin.recv(65536):
                received += chunk
                if time.monotonic() > deadline:
                    raise TimeoutError(f"still answering after {timeout}s")
    except OSError as error:
        raise BalancerError(f"HAProxy's admin socket {path}: {error}") from error
    return parse_server_states(received.decode())


def _pid(directory: Path) -> int | None:
    try:
        pid = int((directory / PID_FILE).read_text().split()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return None
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except FileNotFoundError:
        return None
    return pid if comm == "haproxy" else None


def ensure(
    spec: BalancerSpec, network: Network, address: IPv4Interface, servers: Sequence[Server], directory: Path
) -> bool:
    """Run HAProxy for `spec` over `servers` in the balancer's namespace. True if it did anything."""
    netns = netns_name(spec.stack, spec.name)
    attach(network, netns, address)
    return run_haproxy(spec, address, servers, directory, ("ip", "netns", "exec", netns))


def run_haproxy(
    spec: BalancerSpec, address: IPv4Interface, servers: Sequence[Server], directory: Path, launcher: Sequence[str]
) -> bool:
    """Start HAProxy through `launcher` (what puts it in its namespace), or reload it if its configuration changed.

    True if it did anything.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    config = directory / CONFIG_FILE
    text = render(spec, address, servers, directory)
    running = _pid(directory)
    if running is not None and config.is_file() and config.read_text() == text:
        return False
    candidate = directory / f"{CONFIG_FILE}.new"
    candidate.write_text(text)
    checked = run(["haproxy", "-c", "-q", "-f", str(candidate)], check=False)
    if checked.returncode != 0:
        raise BalancerError(f"haproxy rejected {candidate}: {checked.stderr.decode()}{checked.stdout.decode()}")
    admin = directory / SOCKET_FILE
    # An HAProxy started before its configuration had the admin socket can neither say nor hand over anything.
    handover = running is not None and admin.is_socket()
    (directory / STATE_FILE).write_text(server_states(spec, servers, saved_states(admin) if handover else {}))
    os.replace(candidate, config)
    argv = [*launcher, "haproxy", "-f", str(config)]
    if handover:
        # The old process's listening sockets, so no connection arriving during the reload is reset.
        argv += ["-x", str(admin)]
    if running is not None:
        argv += ["-sf", str(running)]
    # The daemon keeps whatever descriptors it is given: hand it a log file, not a pipe.
    with open(directory / LOG_FILE, "ab") as log:
        started = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=False)
    if started.returncode != 0:
        raise BalancerError(f"haproxy for {spec.name} exited {started.returncode}: see {directory / LOG_FILE}")
    return True


def stop(stack: str, name: str, directory: Path, timeout: float = 10) -> None:
    """Stop HAProxy and remove the balancer's namespace."""
    terminate(directory, timeout)
    detach(netns_name(stack, name))


def terminate(directory: Path, timeout: float = 10) -> None:
    """Stop the HAProxy whose pid file is in `directory`, waiting at most `timeout` seconds for it to exit."""
    pid = _pid(directory)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
