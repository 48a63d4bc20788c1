"""`make cycles` (`python -m localcloud cycles`): many `up`/`down` cycles across the layouts in a row, each checked, each logged.

A cycle takes one example stack file up on this host, asks its public entry
for the site's page the moment `up` returns (it must be the site, with
200), asks every node's systemd whether its boot ended with no unit failed
(a failed unit the site does not need yet is still a failure), and takes it
down with its data. The layouts take turns. Every cycle
writes one JSON line to the log, so a run that stops halfway still says how
far it got; the run ends with a summary and fails if any cycle did.
"""

from __future__ import annotations

import fcntl
import json
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from localcloud.machine import load_state, system_state
from localcloud.probe import fetch
from localcloud.stack import NodeRow, down, up
from model.project import stack_config

LAYOUTS = ("onebox", "dbsplit", "split", "pool", "custom")
SITE_MARK = 'id="visits"'
"""The demo site's page carries its visit counter: nginx's welcome page or an error page does not."""


@contextmanager
def _held(lock: Path | None) -> Iterator[None]:
    """An exclusive lock on `lock` for one cycle, so other users of the host's local cloud can take turns."""
    if lock is None:
        yield
        return
    with open(lock, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def host_cpu(stat: Path = Path("/proc/stat")) -> tuple[int, int]:
    """The host's CPU time so far, in clock ticks: busy (neither idle nor waiting for I/O), and in all."""
    ticks = [int(n) for n in stat.read_text().splitlines()[0].split()[1:]]
    idle = ticks[3] + ticks[4]
    return sum(ticks) - idle, sum(ticks)


def busy_share(before: tuple[int, int], after: tuple[int, int]) -> float:
    """How much of the host's CPU time between two readings was busy: near 1, the up waited on the CPU."""
    total = after[1] - before[1]
    return round((after[0] - before[0]) / total, 2) if total else 0.0


def _quiet(line: str) -> None:
    """The cycle's own line says what matters; the resources' lines stay out of the log."""


def _units_failed(nodes: Sequence[NodeRow]) -> list[str]:
    """Each node whose boot did not end `running`: its name, what systemd says, the units that failed."""
    found = []
    for row in nodes:
        machine = load_state(row.machine)
        said, units = system_state(machine) if machine is not None else ("not running", ())
        if said != "running":
            found.append(f"{row.name}: {said}" + (f" ({', '.join(units)})" if units else ""))
    return found


def cycle(number: int, layout: str, lock: Path | None) -> dict[str, object]:
    """One up, one request through the entry, one down with purge; what happened, as a log entry."""
    stack = f"cycle-{layout}"
    entry: dict[str, object] = {"cycle": number, "layout": layout, "stack": stack}
    with _held(lock):
        started, cpu = time.monotonic(), host_cpu()
        entry["began"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        try:
            result = up(stack, config=stack_config(layout), say=_quiet)
            entry["up_seconds"] = round(time.monotonic() - started, 1)
            entry["up_host_cpu_busy"] = busy_share(cpu, host_cpu())
            page = fetch(result.url)
            entry["first_status"] = page.status
            site = entry["site"] = SITE_MARK in page.body
            entry["nodes"] = len(result.nodes)
            failed = entry["units_failed"] = _units_failed(result.nodes)
            entry["ok"] = site and page.status == 200 and not failed
            if not site or page.status != 200:
                entry["error"] = f"first request after up: {page.status} {page.body[:200]}"
            elif failed:
                entry["error"] = f"units failed at boot: {'; '.join(failed)}"
        except Exception as error:
            entry["ok"] = False
            entry["error"] = "".join(traceback.format_exception_only(error)).strip()[-2000:]
        finally:
            went = time.monotonic()
            try:
                down(stack, purge=True, say=_quiet)
                entry["down_seconds"] = round(time.monotonic() - went, 1)
            except Exception as error:
                entry["ok"] = False
                entry["down_error"] = "".join(traceback.format_exception_only(error)).strip()[-2000:]
    return entry


def run(count: int, layouts: Sequence[str], log: Path, lock: Path | None) -> int:
    """`count` cycles, the layouts in turn; returns how many failed."""
    log.parent.mkdir(parents=True, exist_ok=True)
    failed = 0
    ups: list[float] = []
    with open(log, "a") as out:
        for number in range(1, count + 1):
            entry = cycle(number, layouts[(number - 1) % len(layouts)], lock)
            failed += not entry["ok"]
            if "up_seconds" in entry:
                ups.append(float(entry["up_seconds"]))  # type: ignore[arg-type]
            out.write(json.dumps(entry) + "\n")
            out.flush()
            verdict = "ok" if entry["ok"] else f"FAILED: {entry.get('error') or entry.get('down_error')}"
            print(f"cycle {number}/{count} {entry['layout']}: up {entry.get('up_seconds', '-')}s "
                  f"(host CPU {entry.get('up_host_cpu_busy', '-')} busy), "
                  f"first answer {entry.get('first_status', '-')}, down {entry.get('down_seconds', '-')}s: {verdict}", flush=True)
        summary = {"summary": True, "cycles": count, "failed": failed, "up_seconds_max": max(ups, default=None),
                   "up_seconds_mean": round(sum(ups) / len(ups), 1) if ups else None}
        out.write(json.dumps(summary) + "\n")
    print(f"{count - failed} of {count} cycles passed; log: {log}")
    return failed
