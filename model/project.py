"""The repository this program runs from: its root, its Pulumi project name, its stack files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["name"]
"""Also the namespace of every config key: `django-tiers:layout`."""
STACKS = ROOT / "stacks"


def stack_names() -> tuple[str, ...]:
    """Every stack the repository ships a stack file for."""
    return tuple(sorted(p.name[len("Pulumi."):-len(".yaml")] for p in STACKS.glob("Pulumi.*.yaml")))


def stack_config(stack: str) -> dict[str, Any]:
    """The `django-tiers:` values of stacks/Pulumi.<stack>.yaml, without the namespace."""
    data = yaml.safe_load((STACKS / f"Pulumi.{stack}.yaml").read_text()) or {}
    prefix = f"{PROJECT}:"
    return {k[len(prefix):]: v for k, v in (data.get("config") or {}).items() if k.startswith(prefix)}
