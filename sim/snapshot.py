"""A run's graph as a deployed stack sees it: every resource by URN, with its type, inputs and options.

Two snapshots differ only where the program does: the program gets the same
throwaway secrets every time, secret inputs are kept as a SHA-256 of their
value, and paths inside the repository are made relative to it. The golden
graphs and the offline diff both compare these.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from model.project import ROOT
from sim.harness import Run
from sim.inputs import walk

OPTIONS = ("protect", "delete_before_replace", "ignore_changes", "replace_on_changes", "additional_secret_outputs", "aliases")
SECRET_DIGEST = "secret-sha256"
"""The key a secret input's digest is kept under, in place of its value."""

# PKCS#8 PEM is deterministic (OpenSSH's format carries a random check number),
# so the deploy key, and every input that holds it, is the same in every run.
DEPLOY_KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32, 64))).private_bytes(
    Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
).decode()
SECRETS = {"dbPassword": "golden-db-password", "secretKey": "golden-secret-key-0123456789" + "0" * 30, "sshPrivateKey": DEPLOY_KEY}


def _secret_digest(value: Any) -> dict[str, str]:
    return {SECRET_DIGEST: hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()}


def _relative(value: Any) -> Any:
    if isinstance(value, str) and str(ROOT) in value:
        return value.replace(str(ROOT), "<repository>")
    return value


def _normal(value: Any) -> Any:
    """Secrets as digests, repository paths relative, numbers as the engine sends them."""
    return walk(value, _relative, secret=_secret_digest)


def holds_secret_digest(value: Any) -> bool:
    """A snapshot value that is, or holds, a secret's digest."""
    if isinstance(value, dict):
        return SECRET_DIGEST in value or any(holds_secret_digest(v) for v in value.values())
    if isinstance(value, list):
        return any(holds_secret_digest(v) for v in value)
    return False


def snapshot(run: Run) -> dict[str, Any]:
    """The graph as a deployed stack sees it, keyed by URN."""
    graph = {}
    for r in sorted(run.resources, key=lambda r: r.urn):
        entry: dict[str, Any] = {"type": r.type, "inputs": _normal(r.inputs)}
        for option in OPTIONS:
            value = getattr(r, option)
            entry[option] = list(value) if isinstance(value, tuple) else value
        if r.retain_on_delete:
            # Kept only where set, so the graphs of everything else read as they did before it was recorded.
            entry["retain_on_delete"] = True
        graph[r.urn] = entry
    return graph
