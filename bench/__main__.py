"""python -m bench <stack>: the article's claims measured on the local cloud, as a table, JSON and a plot.

    python -m bench onebox          # static, slow clients, cache, up-to-serving, the program's time
    python -m bench split           # the same, and the app tier at 1, 2 and 3 nodes (claim 3)
    python -m bench layout          # onebox against split at the same small budget (claim 4)

Root (it drives the local cloud), under the local cloud's lock (make bench
takes it). Every load generator runs with its CPU capped and for a bounded
time, against loopback or the local cloud's own machines only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

from model.project import ROOT

RESULTS = ROOT / "bench" / "results"
SCALING_COUNTS = (1, 2, 3)
GROUPS = ("up", "static", "slow", "cache", "scaling", "program")
LAYOUT_BUDGET = "$18 a month"
LAYOUT_SETS = {
    "onebox": ["tiers.app.size=s-2vcpu-2gb"],
    "split": ["tiers.web.size=s-1vcpu-512mb-10gb", "tiers.app.size=s-1vcpu-1gb",
              "tiers.cache.size=s-1vcpu-512mb-10gb", "tiers.db.size=s-1vcpu-512mb-10gb"],
}
"""Two layouts at one budget of small sizes: one $18 box, or $4 + $6 + $4 + $4."""


def _context(args: argparse.Namespace) -> dict[str, object]:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return {
        "stack": args.stack,
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit,
        "host_cpus": os.cpu_count(),
        "load_average_before": os.getloadavg()[0],
        "runs": args.runs,
        "seconds_per_run": args.seconds,
        "connections": args.connections,
        "load_generator_cores": args.cap,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("stack", help="onebox, split or pool (a stack file), or layout")
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3)")
    parser.add_argument("--seconds", type=int, default=8, help="seconds of load per wrk run (default 8)")
    parser.add_argument("--connections", type=int, default=16, help="wrk's connections (default 16)")
    parser.add_argument("--cap", type=float, default=0.5, help="CPU cores each load generator may use (default 0.5)")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the JSON, table and plot go")
    parser.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    parser.add_argument("--only", default=",".join(GROUPS), help=f"groups of figures to measure, of {','.join(GROUPS)}")
    args = parser.parse_args(argv)
    if not (1 <= args.runs <= 10 and 1 <= args.seconds <= 60 and 1 <= args.connections <= 256):
        parser.error("runs 1-10, seconds 1-60, connections 1-256: every load is bounded")
    only = set(args.only.split(","))
    if only - set(GROUPS):
        parser.error(f"--only takes {','.join(GROUPS)}, not {','.join(sorted(only - set(GROUPS)))}")
    warnings.filterwarnings("ignore", category=DeprecationWarning)

    from bench import figures, plot, stats
    from bench.site import capped_load
    from localcloud.host import NeedsRoot, require_root
    from localcloud.image import ensure_image
    from localcloud.stack import down, nodes, up

    try:
        require_root()
    except NeedsRoot as error:
        print(error, file=sys.stderr)
        return 2

    def say(line: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {line}", flush=True)

    def quiet(_: str) -> None:
        return None

    context = _context(args)
    found: list[stats.Figure] = []
    failed: dict[str, str] = {}

    def measure(group: str, fn: Callable[[], list[stats.Figure]]) -> None:
        """One group of figures; a group that fails is reported as such, and the others still run."""
        if group not in only:
            return
        try:
            found.extend(fn())
        except Exception as error:  # noqa: BLE001 (a bench run reports what failed and goes on)
            failed[group] = f"{type(error).__name__}: {error}"[:2000]
            say(f"{group} failed: {failed[group]}")

    with capped_load(args.seconds, args.connections, args.cap) as load:
        try:
            ensure_image()
            if args.stack == "layout":
                rps = {}
                for stack, sets in LAYOUT_SETS.items():
                    url = up(stack, sets=sets, say=quiet).url
                    rps[stack] = figures.throughput(url, load, args.runs)
                    say(f"layout {stack}: {rps[stack]}")
                    if not args.keep:
                        down(stack, say=quiet)
                found += figures.layout_figures(rps["onebox"], rps["split"], LAYOUT_BUDGET)
            else:
                stack = args.stack
                measure("up", lambda: [figures.up_to_serving(
                    stack, args.runs, lambda: up(stack, say=quiet).url, lambda: down(stack, say=quiet), say,
                )])
                on_site = only & {"static", "slow", "cache"}
                if on_site:
                    try:
                        url = up(stack, say=quiet).url
                        rows = nodes(stack)
                    except Exception as error:  # noqa: BLE001 (reported below, with the groups it stopped)
                        failed.update({group: f"up failed: {error}"[:2000] for group in sorted(on_site)})
                    else:
                        measure("static", lambda: figures.static(rows, load, args.runs, say))
                        measure("slow", lambda: figures.slow_clients(rows, url, load, args.runs, say))
                        measure("cache", lambda: figures.cache(url, load, args.runs, say))
                if stack == "split":
                    def scaling() -> list[stats.Figure]:
                        rps = {}
                        for n in SCALING_COUNTS:
                            scaled = up(stack, sets=[f"tiers.app.count={n}"], say=quiet).url
                            rps[n] = figures.throughput(scaled, load, args.runs)
                            say(f"app tier at {n}: {rps[n]}")
                        return figures.scaling_figures(SCALING_COUNTS, rps)

                    measure("scaling", scaling)
            measure("program", lambda: figures.program_time(args.runs, say))
        finally:
            if args.stack != "layout" and not args.keep and only - {"program"}:
                down(args.stack, say=quiet)

    result = {**stats.as_json(found, context), "failed": failed}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{args.stack}.json").write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    text = stats.table(found)
    notes = "".join(f"\nNot measured: {group}: {reason}\n" for group, reason in failed.items())
    (args.out / f"{args.stack}.md").write_text(text + "\n" + notes)
    plot.draw(result, args.out / f"{args.stack}.png")
    print("\n" + text)
    for group, reason in failed.items():
        print(f"not measured: {group}: {reason}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
