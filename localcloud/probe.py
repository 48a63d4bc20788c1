"""Looking at a running local stack from outside and from inside: ports, pages, a stream of requests.

The probe scripts (localcloud/probes/) use only the standard library, so the
same file runs on the host, in the internet namespace, and inside a machine.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from localcloud.host import run
from localcloud.machine import MachineState, run_in
from localcloud.network import INTERNET_NETNS
from model.project import ROOT

PROBES = ROOT / "localcloud" / "probes"
HOST_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class Page:
    status: int
    headers: dict[str, str]
    body: str


def ports_from_netns(netns: str | None, targets: Sequence[str], timeout: float = 2.0) -> dict[str, str]:
    """{host:port: open|refused|filtered} as seen from a host namespace (None: the host itself)."""
    argv = [HOST_PYTHON, str(PROBES / "ports.py"), str(timeout), *targets]
    if netns is not None:
        argv = ["ip", "netns", "exec", netns, *argv]
    return json.loads(run(argv, timeout=timeout + 30).stdout)


def ports_from_machine(machine: MachineState, targets: Sequence[str], timeout: float = 2.0) -> dict[str, str]:
    """The same, from inside a machine, with the machine's own python3."""
    script = (PROBES / "ports.py").read_bytes()
    done = run_in(machine, ["python3", "-", str(timeout), *targets], input_bytes=script, timeout=timeout + 30)
    return json.loads(done.stdout)


def fetch(url: str, netns: str = INTERNET_NETNS, timeout: float = 10, resolve: str | None = None) -> Page:
    """One GET from the internet namespace, with status, headers (lower-case names) and body.

    `resolve` (curl's host:port:address) stands in for public DNS, and then
    the local certificate, self-signed, is taken as it is.
    """
    name = ["--resolve", resolve, "--insecure"] if resolve else []
    done = run(["ip", "netns", "exec", netns, "curl", "-s", "-i", *name, "--noproxy", "*", "--max-time", str(timeout), url],
               timeout=timeout + 10)
    head, _, body = done.stdout.decode(errors="replace").partition("\r\n\r\n")
    lines = head.split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Page(int(lines[0].split()[1]), headers, body)


def start_load(url: str, seconds: float, rate: float = 20.0, netns: str = INTERNET_NETNS) -> subprocess.Popen[bytes]:
    """Start a stream of requests in the background; read its counts with finish_load."""
    return subprocess.Popen(
        ["ip", "netns", "exec", netns, HOST_PYTHON, str(PROBES / "load.py"), url, str(seconds), str(rate)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )


def finish_load(proc: subprocess.Popen[bytes], timeout: float = 120, early: bool = False) -> dict[str, object]:
    """The stream's counts: after it ran its time, or at once with `early`."""
    if early:
        proc.terminate()
    out, err = proc.communicate(timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"load stream failed: {err.decode(errors='replace')}")
    return json.loads(out)
