"""Every stack file's graph, as JSON on stdout: what the offline diff compares between two trees.

    python -m sim.record [stack ...]

Runs in the tree it is started in: that tree's program and stack files. The
diff gives both trees the same sim/, so two graphs differ only where the
programs or their stack files do.
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import Any

from model.project import stack_config, stack_names
from sim.harness import run_program
from sim.snapshot import SECRETS, snapshot


def record(stack: str) -> dict[str, Any]:
    """The stack's snapshot, with the aliases and input dependencies the diff needs; or why the program failed."""
    try:
        run = run_program(stack_config(stack), SECRETS, stack=stack)
    except Exception as err:  # any failure of the program is what the reader must see
        return {"error": f"{type(err).__name__}: {err}"}
    return {
        "graph": snapshot(run),
        "aliases": {r.urn: list(r.aliases) for r in run.resources if r.aliases},
        "dependencies": {
            r.urn: {k: list(v) for k, v in r.property_dependencies.items()} for r in run.resources if r.property_dependencies
        },
    }


def main(argv: list[str]) -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    known = stack_names()
    stacks = [s for s in argv if s in known] if argv else known
    json.dump({stack: record(stack) for stack in stacks}, sys.stdout, sort_keys=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
