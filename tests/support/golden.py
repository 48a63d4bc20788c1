"""Golden graphs: every resource a stack file registers, by URN, with its type, inputs and options.

A deployed stack sees a diff exactly where these change, so the tests
compare the program's graph with the committed snapshots, and a change that
is meant to show writes them anew:

    python -m tests.support.golden            # rewrite tests/golden/*.yaml

A snapshot is the same on every machine: see sim/snapshot.py.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

from model.project import ROOT, stack_config, stack_names
from sim.harness import run_program
from sim.snapshot import SECRETS, snapshot

GOLDEN_DIR = ROOT / "tests" / "golden"
DOMAIN = "www.example.com"


def cases() -> dict[str, tuple[str, dict[str, Any]]]:
    """Snapshot name -> (stack, config): every stack file as it is, and with a domain."""
    out = {}
    for stack in stack_names():
        out[stack] = (stack, stack_config(stack))
        out[f"{stack}-domain"] = (stack, {**stack_config(stack), "domain": DOMAIN})
    return out


def graph_of(name: str) -> dict[str, Any]:
    stack, config = cases()[name]
    return snapshot(run_program(config, SECRETS, stack=stack))


class _Dumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so a diff of user-data or a script reads line by line."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    literal = "\n" in value and not any(line != line.rstrip() for line in value.splitlines())
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if literal else None)


_Dumper.add_representer(str, _str)


def path_of(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.yaml"


def dump(graph: dict[str, Any]) -> str:
    return yaml.dump(graph, Dumper=_Dumper, sort_keys=True, width=1000, allow_unicode=False)


def load(name: str) -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path_of(name).read_text(), Loader=loader)


def write_all() -> list[Path]:
    GOLDEN_DIR.mkdir(exist_ok=True)
    written = []
    for name in cases():
        path = path_of(name)
        path.write_text(dump(graph_of(name)))
        written.append(path)
    return written


if __name__ == "__main__":
    for written in write_all():
        print(written.relative_to(ROOT))
    sys.exit(0)
