"""Golden graphs: every resource a stack file registers, by URN, with its type, inputs and options.

A deployed stack sees a diff exactly where these change, so the tests
compare the program's graph with the committed snapshots, and a change that
is meant to show writes them anew:

    python -m tests.support.golden            # rewrite tests/golden/*.yaml

Secret inputs are kept as a SHA-256 of their value, paths inside the
repository relative to it, so a snapshot is the same on every machine.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from model.project import ROOT, stack_config, stack_names
from sim.harness import Run, run_program
from sim.inputs import walk

GOLDEN_DIR = ROOT / "tests" / "golden"
DOMAIN = "www.example.com"
OPTIONS = ("protect", "delete_before_replace", "ignore_changes", "replace_on_changes", "additional_secret_outputs", "aliases")

# PKCS#8 PEM is deterministic (OpenSSH's format carries a random check number),
# so the deploy key, and every input that holds it, is the same in every run.
DEPLOY_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64))).private_bytes(
    Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
).decode()
SECRETS = {"dbPassword": "golden-db-password", "secretKey": "golden-secret-key-0123456789" + "0" * 30, "sshPrivateKey": DEPLOY_KEY}


def cases() -> dict[str, tuple[str, dict[str, Any]]]:
    """Snapshot name -> (stack, config): every stack file as it is, and with a domain."""
    out = {}
    for stack in stack_names():
        out[stack] = (stack, stack_config(stack))
        out[f"{stack}-domain"] = (stack, {**stack_config(stack), "domain": DOMAIN})
    return out


def _secret_digest(value: Any) -> dict[str, str]:
    return {"secret-sha256": hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()}


def _relative(value: Any) -> Any:
    if isinstance(value, str) and str(ROOT) in value:
        return value.replace(str(ROOT), "<repository>")
    return value


def _normal(value: Any) -> Any:
    """Secrets as digests, repository paths relative, numbers as the engine sends them."""
    return walk(value, _relative, secret=_secret_digest)


def snapshot(run: Run) -> dict[str, Any]:
    """The graph as a deployed stack sees it, keyed by URN."""
    graph = {}
    for r in sorted(run.resources, key=lambda r: r.urn):
        entry: dict[str, Any] = {"type": r.type, "inputs": _normal(r.inputs)}
        for option in OPTIONS:
            value = getattr(r, option)
            entry[option] = list(value) if isinstance(value, tuple) else value
        graph[r.urn] = entry
    return graph


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
