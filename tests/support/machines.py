"""A local machine as tests look at it: its journal once journald has read it all, the cgroups systemd tracks a process in.

journald takes a unit's output from its pipe on its own time, so a
journalctl run right after a request can miss the lines the request made.
The cgroups are read from /proc, as the host's kernel has them, not through
the local cloud's own code under test.
"""

from __future__ import annotations

from pathlib import Path

from localcloud.machine import MachineState, run_in


def journal(machine: MachineState, *args: str) -> str:
    """`journalctl --no-pager ARGS` in the machine, after `journalctl --sync`; its output, whatever its exit status."""
    run_in(machine, ["journalctl", "--sync"], check=False)
    return run_in(machine, ["journalctl", "--no-pager", *args], check=False).stdout.decode(errors="replace")


def systemd_cgroups(pid: int) -> set[str]:
    """The cgroups, as the host sees them, where systemd tracks process `pid`: name=systemd's, the unified one's."""
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return {path for number, controllers, path in (line.split(":", 2) for line in lines)
            if controllers == "name=systemd" or number == "0"}
