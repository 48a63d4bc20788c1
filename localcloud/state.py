"""What the local cloud remembers about a stack between runs, and what a new run does to each resource.

A resource is known by its type and name (the mock's arguments carry no
parent, and the program's names are unique per type). Inputs are kept only
as keyed digests, one per top-level input, so the state file holds no secret
even though stdin and connection inputs carry them; what changed is decided
by comparing digests, and the change is played as DigitalOcean and
pulumi-command would play it: kept, updated in place, or replaced.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pulumi

from sim.inputs import walk
from sim.resources import forces_replacement, in_destroy_order


class Action(enum.Enum):
    KEPT = "kept"
    CREATED = "created"
    UPDATED = "updated"
    REPLACED = "replaced"
    DESTROYED = "destroyed"
    REFUSED = "refused"


@dataclass(frozen=True)
class Record:
    """One resource as it runs now: its id, input digests, the outputs it made, and where it lives locally."""

    type: str
    name: str
    id: str
    digests: Mapping[str, str]
    outputs: Mapping[str, Any] = field(default_factory=dict)
    local: Mapping[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return resource_key(self.type, self.name)


@dataclass(frozen=True)
class Decision:
    action: Action
    changed: tuple[str, ...]


def resource_key(type_: str, name: str) -> str:
    return f"{type_}::{name}"


def _content(value: Any) -> Any:
    """Assets and archives by their content, so an edit is a change."""
    if isinstance(value, pulumi.FileAsset):
        return {"fileAsset": hashlib.sha256(Path(value.path).read_bytes()).hexdigest()}
    if isinstance(value, pulumi.StringAsset):
        return {"stringAsset": hashlib.sha256(value.text.encode()).hexdigest()}
    if isinstance(value, pulumi.FileArchive):
        return {"fileArchive": tree_digest(Path(value.path))}
    if isinstance(value, pulumi.RemoteAsset):
        return {"remoteAsset": value.uri}
    return value


def tree_digest(root: Path) -> str:
    """Digest of every file's relative path and bytes below `root`."""
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def input_digests(inputs: Mapping[str, Any], key: bytes) -> dict[str, str]:
    """One keyed digest per top-level input: equal inputs compare equal, and no value can be read back."""
    return {
        name: hmac.new(key, json.dumps(walk(value, _content), sort_keys=True).encode(), "sha256").hexdigest()
        for name, value in sorted(inputs.items())
    }


def decide(type_: str, previous: Record | None, digests: Mapping[str, str]) -> Decision:
    """What a run does to a resource given what ran before (None: nothing did)."""
    if previous is None:
        return Decision(Action.CREATED, ())
    keys = set(previous.digests) | set(digests)
    changed = tuple(sorted(k for k in keys if previous.digests.get(k) != digests.get(k)))
    if not changed:
        return Decision(Action.KEPT, ())
    if forces_replacement(type_, changed):
        return Decision(Action.REPLACED, changed)
    return Decision(Action.UPDATED, changed)


def destroy_order(records: list[Record]) -> list[Record]:
    """`records` sorted so that what depends on others goes first."""
    return in_destroy_order(records, lambda r: r.type, lambda r: r.name)


class StackState:
    """The resources a stack had after its last run, in a root-only JSON file."""

    def __init__(self, path: Path):
        self.path = path
        self.records: dict[str, Record] = {}
        if path.is_file():
            data = json.loads(path.read_text())
            for raw in data.get("resources", []):
                record = Record(**raw)
                self.records[record.key] = record

    def get(self, type_: str, name: str) -> Record | None:
        return self.records.get(resource_key(type_, name))

    def of_type(self, type_: str) -> list[Record]:
        return sorted((r for r in self.records.values() if r.type == type_), key=lambda r: r.name)

    def put(self, record: Record) -> None:
        self.records[record.key] = record
        self.save()

    def drop(self, record: Record) -> None:
        self.records.pop(record.key, None)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        body = json.dumps(
            {"resources": [asdict(r) for r in sorted(self.records.values(), key=lambda r: r.key)]},
            indent=1, sort_keys=True,
        )
        partial = self.path.with_suffix(".partial")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(body + "\n")
        os.replace(partial, self.path)
