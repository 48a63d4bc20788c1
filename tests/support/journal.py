"""A local machine's journal as tests read it: only once journald has read everything written before.

journald takes a unit's output from its pipe on its own time, so a
journalctl run right after a request can miss the lines the request made.
"""

from __future__ import annotations

from localcloud.machine import MachineState, run_in


def journal(machine: MachineState, *args: str) -> str:
    """`journalctl --no-pager ARGS` in the machine, after `journalctl --sync`; its output, whatever its exit status."""
    run_in(machine, ["journalctl", "--sync"], check=False)
    return run_in(machine, ["journalctl", "--no-pager", *args], check=False).stdout.decode(errors="replace")
