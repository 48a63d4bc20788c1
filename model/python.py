"""The nodes' Python: one fact, and what it means for a project's requirements.

Every droplet runs the image's own python3 (Debian 12's 3.11.2), and each
release's virtualenv is made from it. A pin that needs a newer Python
installs on a developer's machine and fails only on the nodes, so the
program asks pip, before anything is registered, whether the requirements
resolve for exactly this interpreter, and turns pip's refusal into one
message that names the package and the nodes' Python.
"""

from __future__ import annotations

import re
from pathlib import Path

NODE_IMAGE = "debian-12-x64"
NODE_PYTHON = "3.11.2"
"""Debian 12's python3, what `python3 -m venv` gives every release on a node."""
NODE_ABI = "cp311"
NODE_PLATFORMS: tuple[str, ...] = tuple(f"manylinux_2_{minor}_x86_64" for minor in range(36, 4, -1)) + (
    "manylinux2014_x86_64",
    "manylinux2010_x86_64",
    "manylinux1_x86_64",
)
"""Debian 12 ships glibc 2.36: every manylinux tag up to it installs there."""
DESCRIBED = f"Python {NODE_PYTHON} (the nodes' python3, Debian 12's)"

PIP_TIMEOUT_SECONDS = 15
"""One index request; an unreachable index must not hold the program for minutes."""


def target_args() -> list[str]:
    """pip's options that make it choose wheels for the nodes' interpreter and platform, not its own."""
    platforms = [arg for tag in NODE_PLATFORMS for arg in ("--platform", tag)]
    return [
        "--only-binary=:all:", "--python-version", NODE_PYTHON, "--implementation", "cp",
        "--abi", NODE_ABI, "--abi", "abi3", "--abi", "none", *platforms,
    ]


def resolve_args(requirements: Path, scratch: Path) -> list[str]:
    """`pip install` arguments that resolve `requirements` for the nodes and install nothing."""
    return [
        "install", "--dry-run", "--ignore-installed", "--quiet", "--no-input", "--disable-pip-version-check",
        "--timeout", str(PIP_TIMEOUT_SECONDS), "--retries", "1", "--target", str(scratch),
        *target_args(), "-r", str(requirements),
    ]


_NOT_FOUND = re.compile(r"No matching distribution found for (\S+)")
_NEEDS_PYTHON = re.compile(r"(\S+) Requires-Python (\S+)")
_IGNORED = re.compile(r"Ignored the following versions that require a different python version: (.*)")
_UNREACHABLE = (
    "NewConnectionError", "Failed to establish a new connection", "Temporary failure in name resolution",
    "Network is unreachable", "ConnectTimeoutError", "Read timed out",
)


def unreachable(pip_output: str) -> bool:
    """pip could not reach its index: the answer says nothing about the requirements."""
    return any(sign in pip_output for sign in _UNREACHABLE)


def explain(pip_output: str) -> tuple[str, bool]:
    """pip's refusal as one sentence, and whether it stops the program.

    A pin whose versions need another Python, or requirements that conflict,
    stop it. A requirement with no wheel for the nodes does not: the build
    user compiles it there from source (the local cloud, which takes wheels
    only, refuses it when it fills its wheelhouse).
    """
    found = _NOT_FOUND.search(pip_output)
    if found is None:
        errors = [line for line in pip_output.splitlines() if line.startswith("ERROR:")]
        last = errors[-1].removeprefix("ERROR:").strip() if errors else pip_output.strip()[-300:]
        return f"pip cannot install them for {DESCRIBED}: {last}", True
    requirement = found.group(1)
    name = re.split(r"[=<>!~ ;\[]", requirement, maxsplit=1)[0]
    wanted = requirement[len(name):].removeprefix("==") if "==" in requirement else None
    ignored = _IGNORED.search(pip_output)
    needs = dict(_NEEDS_PYTHON.findall(ignored.group(1).replace(";", " "))) if ignored else {}
    if wanted is not None and wanted in needs:
        return f"{requirement} needs Python {needs[wanted]}, and the nodes run {DESCRIBED}", True
    if needs:
        return f"no version of {requirement} installs on {DESCRIBED}; others need Python {sorted(set(needs.values()))[-1]}", True
    return f"{requirement} has no wheel for {DESCRIBED} on x86_64 Linux: the nodes will build it from source", False
