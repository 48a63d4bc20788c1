"""`make plan`'s work for a 100-node pool: the program under the simulator, its description and diagram.

The bench times this in a fresh interpreter, as `make plan` would run for
a stack file with these counts.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import warnings
from pathlib import Path

from model.config import SECRETS
from model.project import stack_config
from sim import diagram
from sim.harness import run_program
from sim.keys import new_deploy_key
from sim.plan import describe

STACK = "pool"
COUNTS = {"web": 2, "app": 95, "cache": 2}
"""With the db node: 100 droplets."""


def main() -> int:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    config = stack_config(STACK)
    config["tiers"] = {**config["tiers"], **{t: {**config["tiers"][t], "count": n} for t, n in COUNTS.items()}}
    throwaway = {key: secrets.token_urlsafe(48) for key in SECRETS}
    throwaway["sshPrivateKey"] = new_deploy_key()[0]
    run = run_program(config, throwaway, stack=STACK)
    print(describe(run, STACK))
    with tempfile.TemporaryDirectory() as out:
        print(diagram.write(run, STACK, Path(out)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
