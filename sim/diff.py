"""`make diff BASE=<git ref>`: what a `pulumi up` of every stack file would do, from BASE to the working tree, offline.

    python -m sim.diff main [--stack pool] [--whole]

Both trees run on the simulated DigitalOcean, each in its own process, with
the working tree's sim/ in both, so only the programs and their stack files
differ. Their graphs are compared as the engine compares them: by URN or
alias, with the provider's replace rules, and a replaced resource's outputs
unknown until it exists, so whatever reads them changes too. The result is
Markdown for a pull request comment: one line per stack, then the details,
cut below GitHub's 65,536-character limit with a note of what was left out.
A secret input shows that it changes, never its value.
"""

from __future__ import annotations

import argparse
import difflib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from model.project import ROOT
from sim.resources import TYPES, forces_replacement
from sim.snapshot import OPTIONS, holds_secret_digest
from sim.table import table

COMMENT_LIMIT = 65_536
"""GitHub refuses a comment body of this many characters or more."""
MARKER = "<!-- django-tiers offline diff -->"
"""The first line of the comment, by which CI finds and edits its own comment."""
VALUE_LINES = 40
"""At most this many lines of one input's change; a rewritten user-data says enough in that."""
OPS = ("replace", "delete", "create", "update")
"""Pulumi's steps, the weightiest first: a cut comment keeps those."""
SYMBOL = {"create": "+", "update": "~", "replace": "+-", "delete": "-"}


class DiffError(Exception):
    """A bad BASE or a tree the simulator cannot run: one message, no diff."""


# ---- comparing two graphs ---------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What `pulumi up` does to one resource."""

    op: str
    urn: str
    type: str
    inputs: tuple[str, ...] = ()
    """Inputs whose value changes, or is unknown until something it reads is replaced."""
    options: tuple[str, ...] = ()
    forcing: tuple[str, ...] = ()
    """The inputs that make this a replacement."""
    waits: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per input, the replaced resources whose new outputs it reads."""
    old: Mapping[str, Any] | None = None
    new: Mapping[str, Any] | None = None

    @property
    def name(self) -> str:
        return name_of(self.urn)

    @property
    def noun(self) -> str:
        return TYPES[self.type].noun if self.type in TYPES else "component"

    @property
    def short_type(self) -> str:
        return self.type.rsplit(":", 1)[-1]


@dataclass(frozen=True)
class StackDiff:
    stack: str
    changes: tuple[Change, ...] = ()
    unchanged: int = 0
    problem: str | None = None
    """Why there is nothing to compare: the program fails, or the stack file is gone."""
    new_file: bool = False


def name_of(urn: str) -> str:
    return urn.rsplit("::", 1)[-1]


def _top(path: str) -> str:
    """The top-level input an option's property path names: `tags[0]` -> `tags`."""
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _replaces(entry: Mapping[str, Any], inputs: set[str]) -> tuple[str, ...]:
    """Which of `inputs` replace the resource: the provider's rules, or the program's replaceOnChanges."""
    own = {_top(p) for p in entry["replace_on_changes"]}

    def forces(key: str) -> bool:
        return key in own or "*" in own or (entry["type"] in TYPES and forces_replacement(entry["type"], [key]))

    return tuple(sorted(k for k in inputs if forces(k)))


def _changed_inputs(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    ignored = {_top(p) for p in new["ignore_changes"]}
    keys = set(old["inputs"]) | set(new["inputs"])
    return {k for k in keys if k not in ignored and old["inputs"].get(k) != new["inputs"].get(k)}


def compare_graphs(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    aliases: Mapping[str, list[str]],
    dependencies: Mapping[str, Mapping[str, list[str]]],
) -> tuple[list[Change], int]:
    """The changes from graph `old` to graph `new`, and how many resources stay as they are."""
    matched = {}
    for urn in new:
        previous = urn if urn in old else next((a for a in aliases.get(urn, ()) if a in old), None)
        if previous is not None:
            matched[urn] = previous
    changed = {urn: _changed_inputs(old[matched[urn]], new[urn]) for urn in matched}
    replaced = {urn for urn in matched if _replaces(new[urn], changed[urn])}
    waits: dict[str, dict[str, tuple[str, ...]]] = {}
    while True:
        for urn in matched:
            ignored = {_top(p) for p in new[urn]["ignore_changes"]}
            waits[urn] = {
                k: tuple(sorted(name_of(d) for d in deps if d in replaced))
                for k, deps in dependencies.get(urn, {}).items()
                if k not in ignored and any(d in replaced for d in deps)
            }
        grown = {urn for urn in matched if urn not in replaced and _replaces(new[urn], changed[urn] | set(waits[urn]))}
        if not grown:
            break
        replaced |= grown

    changes = [Change("create", urn, new[urn]["type"], new=new[urn]) for urn in new if urn not in matched]
    gone = set(old) - set(matched.values())
    changes += [Change("delete", urn, old[urn]["type"], old=old[urn]) for urn in gone]
    unchanged = 0
    for urn, previous in matched.items():
        inputs = changed[urn] | set(waits[urn])
        options = tuple(o for o in OPTIONS if o != "aliases" and old[previous].get(o) != new[urn].get(o))
        if not inputs and not options:
            unchanged += 1
            continue
        forcing = _replaces(new[urn], inputs)
        changes.append(Change(
            "replace" if forcing else "update", urn, new[urn]["type"], tuple(sorted(inputs)), options, forcing,
            waits[urn], old[previous], new[urn],
        ))
    return sorted(changes, key=_order), unchanged


def _natural(name: str) -> list[Any]:
    """`app-2` before `app-10`."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


_NOUNS = list(dict.fromkeys(t.noun for t in TYPES.values())) + ["component"]


def _order(change: Change) -> tuple[Any, ...]:
    return OPS.index(change.op), _NOUNS.index(change.noun), _natural(change.name)


def compare_stack(stack: str, old: Mapping[str, Any] | None, new: Mapping[str, Any] | None) -> StackDiff:
    """One stack's diff from the records of both trees (None: the tree has no such stack file)."""
    if new is None:
        return StackDiff(stack, problem="stack file removed; its deployed stack stays as it is until it is destroyed")
    if "error" in new:
        return StackDiff(stack, problem=f"the program fails: {new['error']}")
    if old is not None and "error" in old:
        return StackDiff(stack, problem=f"nothing to compare with: the program fails at the base: {old['error']}")
    changes, unchanged = compare_graphs(old["graph"] if old else {}, new["graph"], new["aliases"], new["dependencies"])
    return StackDiff(stack, tuple(changes), unchanged, new_file=old is None)


# ---- reading out ------------------------------------------------------------------------------


def _counted(n: int, noun: str) -> str:
    return f"{n} {noun if n == 1 else noun + 's'}"


def summary(diff: StackDiff) -> str:
    """One line: `+1 droplet, 2 steps updated, nothing replaced`, in Pulumi's words."""
    if diff.problem:
        return diff.problem
    if not diff.changes:
        return "no changes"
    counts = Counter((c.op, c.noun) for c in diff.changes)
    kinds = [(op, noun) for op in ("create", "delete", "update", "replace") for noun in _NOUNS if counts[op, noun]]
    parts = []
    for op, noun in kinds:
        n = counts[op, noun]
        if op == "create":
            parts.append(f"+{_counted(n, noun)}")
        elif op == "delete":
            parts.append(f"-{_counted(n, noun)}")
        else:
            parts.append(f"{_counted(n, noun)} {op}d")
    if not any(c.op == "replace" for c in diff.changes):
        parts.append("nothing replaced")
    line = ", ".join(parts)
    return f"new stack file: {line}" if diff.new_file else line


def _info(change: Change) -> str:
    if change.op in ("create", "delete"):
        protected = change.op == "delete" and change.old is not None and change.old["protect"]
        return "protected: `pulumi up` stops here until it is unprotected" if protected else ""
    diff = ", ".join([f"~{k}" for k in change.inputs] + [f"~{o}" for o in change.options])
    info = f"[diff: {diff}]"
    if change.forcing:
        info += f" {', '.join(change.forcing)} {'forces' if len(change.forcing) == 1 else 'force'} replacement"
        if change.new and change.new["delete_before_replace"]:
            info += "; deleted before its replacement is created"
        if change.new and change.new["protect"]:
            info += "; protected: `pulumi up` stops here until it is unprotected"
    return info


def _text(value: Any) -> str:
    if isinstance(value, str) and "\n" in value:
        return value
    if isinstance(value, (dict, list)):
        return yaml.safe_dump(value, sort_keys=True, default_flow_style=False, width=1000).rstrip("\n")
    return json.dumps(value)


def _capped(lines: list[str]) -> list[str]:
    if len(lines) <= VALUE_LINES:
        return lines
    return lines[:VALUE_LINES] + [f"      … {len(lines) - VALUE_LINES} more lines of this input"]


def _input_lines(change: Change, key: str) -> list[str]:
    old = change.old["inputs"].get(key) if change.old else None
    new = change.new["inputs"].get(key) if change.new else None
    forces = " (forces replacement)" if key in change.forcing else ""
    if key in change.waits:
        upstream = change.waits[key]
        return [f"  ~ {key}: known once {', '.join(upstream)} {'is' if len(upstream) == 1 else 'are'} replaced{forces}"]
    if holds_secret_digest(old) or holds_secret_digest(new):
        return [f"  ~ {key}: [secret]{forces}"]
    if old is None:
        return [f"  + {key}{forces}", *_capped([f"      {line}" for line in _text(new).splitlines()])]
    if new is None:
        return [f"  - {key}{forces}"]
    before, after = _text(old), _text(new)
    if "\n" not in before + after and len(before) + len(after) < 100:
        return [f"  ~ {key}: {before} => {after}{forces}"]
    lines = list(difflib.unified_diff(before.splitlines(), after.splitlines(), n=1, lineterm=""))[2:]
    return [f"  ~ {key}{forces}", *_capped([f"      {line}" for line in lines])]


def _detail_lines(change: Change) -> list[str]:
    out = [f"{SYMBOL[change.op]} {change.short_type} {change.name}"]
    for key in change.inputs:
        out += _input_lines(change, key)
    for option in change.options:
        out.append(f"  ~ option {option}: {json.dumps(change.old[option])} => {json.dumps(change.new[option])}")
    return out


@dataclass
class _Block:
    """Lines that may be cut, between a head and a tail that stay."""

    head: str
    lines: list[str]
    tail: str
    what: str
    rank: int
    """Blocks of a lower rank get the room first."""
    shown: int = 0

    def text(self) -> str:
        cut = len(self.lines) - self.shown
        more = [f"… {cut} more {self.what} left out: see the note under the summary"] if cut else []
        return "\n".join([self.head, *self.lines[: self.shown], *more, self.tail]) + "\n"


class _CutNote:
    """Where the note of what was cut goes: right under the summary."""


def _document(diffs: list[StackDiff], ref: str, commit: str) -> list[str | _Block | _CutNote]:
    parts: list[str | _Block | _CutNote] = [
        f"{MARKER}\n### Offline diff: `{ref}` ({commit[:7]}) → this tree\n\n"
        "What `pulumi up` would do to each stack file's stack, worked out on the simulated DigitalOcean "
        "(no cloud account; throwaway secrets, so a secret input shows that it changes, never its value).\n\n",
        "".join(f"- **{d.stack}**: {summary(d)}\n" for d in diffs),
        _CutNote(),
    ]
    for d in (d for d in diffs if d.changes):
        rows = [[SYMBOL[c.op], c.short_type, c.name, c.op, _info(c)] for c in d.changes]
        header, _rule, *plan = table(["", "Type", "Name", "Plan", "Info"], rows).splitlines()
        parts.append(f"\n#### {d.stack} ({d.unchanged} unchanged)\n\n")
        parts.append(_Block(f"```text\n{header}", plan, "```", f"rows of {d.stack}'s plan", 0))
        details = [line for c in d.changes if c.op in ("update", "replace") for line in _detail_lines(c)]
        if details:
            parts.append(_Block(
                f"\n<details><summary>{d.stack}: what changes, input by input</summary>\n\n```text",
                details, "```\n</details>", f"lines of {d.stack}'s input changes", 1,
            ))
    return parts


_NOTE_ROOM = 2_000
"""Room kept for the note of what was cut while the blocks are filled."""


def _joined(parts: list[str | _Block | _CutNote], note: str) -> str:
    return "".join(note if isinstance(p, _CutNote) else p.text() if isinstance(p, _Block) else p for p in parts)


def render(diffs: list[StackDiff], ref: str, commit: str, limit: int | None = COMMENT_LIMIT) -> str:
    """The comment: a line per stack, then each stack's plan and input changes, shorter than `limit` (None: all of it)."""
    parts = _document(diffs, ref, commit)
    blocks = [p for p in parts if isinstance(p, _Block)]
    for block in blocks:
        block.shown = len(block.lines)
    full = _joined(parts, "\n")
    if limit is None or len(full) < limit:
        return full
    fixed = sum(len(p) for p in parts if isinstance(p, str)) + sum(len(b.head) + len(b.tail) + 60 for b in blocks)
    room = limit - 1 - fixed - _NOTE_ROOM
    for block in sorted(blocks, key=lambda b: b.rank):
        block.shown = 0
        for line in block.lines:
            if len(line) + 1 > room:
                break
            room -= len(line) + 1
            block.shown += 1
    left_out = [f"{len(b.lines) - b.shown} {b.what}" for b in blocks if b.shown < len(b.lines)]
    note = (
        f"\n> **Cut to fit GitHub's {COMMENT_LIMIT:,}-character comment limit.** Left out: {'; '.join(left_out)}. "
        f"`make diff BASE={ref} WHOLE=1` shows everything.\n\n"
    )
    text = _joined(parts, note)
    if len(text) >= limit:
        raise DiffError(f"even the summary of this diff is {len(text)} characters, not below {limit}")
    return text


# ---- running both trees -----------------------------------------------------------------------


def _git(*args: str) -> bytes:
    if shutil.which("git") is None:
        raise DiffError("git is not installed")
    done = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True)
    if done.returncode != 0:
        raise DiffError(done.stderr.decode(errors="replace").strip() or f"git {args[0]} failed")
    return done.stdout


def resolve(ref: str) -> str:
    """The commit `ref` names in this repository."""
    try:
        return _git("rev-parse", "--verify", "--end-of-options", f"{ref}^{{commit}}").decode().strip()
    except DiffError as err:
        raise DiffError(f"BASE {ref!r} is not a commit of the repository at {ROOT}: {err}") from None


def checkout(commit: str, into: Path) -> Path:
    """The tree of `commit` in `into`, with the working tree's sim/ in place of its own."""
    with tarfile.open(fileobj=io.BytesIO(_git("archive", "--format=tar", commit)), mode="r:") as archive:
        archive.extractall(into, filter="data")
    shutil.rmtree(into / "sim", ignore_errors=True)
    shutil.copytree(ROOT / "sim", into / "sim", ignore=shutil.ignore_patterns("__pycache__"))
    return into


def record_trees(trees: dict[str, Path], stacks: list[str], scratch: Path) -> dict[str, dict[str, Any]]:
    """Each tree's records (sim/record.py), both trees at once."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    running = {}
    for label, tree in trees.items():
        out, err = scratch / f"{label}.json", scratch / f"{label}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            process = subprocess.Popen([sys.executable, "-m", "sim.record", *stacks], cwd=tree, env=env, stdout=stdout, stderr=stderr)
        running[label] = (process, out, err)
    records = {}
    for label, (process, out, err) in running.items():
        if process.wait() != 0:
            last = (err.read_text(errors="replace").strip().splitlines() or ["no message"])[-1]
            raise DiffError(f"the program at {label} cannot be run on this simulator: {last}")
        records[label] = json.loads(out.read_text())
    return records


def diff(base: str, stacks: list[str] | None = None) -> tuple[str, list[StackDiff]]:
    """(the commit BASE names, each stack's diff from it to the working tree)."""
    commit = resolve(base)
    with tempfile.TemporaryDirectory(prefix="django-tiers-diff-") as scratch:
        tree = checkout(commit, Path(scratch) / "base")
        records = record_trees({"base": tree, "working tree": ROOT}, stacks or [], Path(scratch))
    old, new = records["base"], records["working tree"]
    names = sorted(set(old) | set(new))
    unknown = sorted(set(stacks or ()) - set(names))
    if unknown:
        raise DiffError(f"no stack file stacks/Pulumi.{unknown[0]}.yaml at the base or in the working tree")
    return commit, [compare_stack(s, old.get(s), new.get(s)) for s in names]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the git ref to compare the working tree with, e.g. main")
    parser.add_argument("--stack", action="append", help="only this stack (may be given more than once)")
    parser.add_argument("--whole", action="store_true", help="all of it, not cut to fit a pull request comment")
    args = parser.parse_args(argv)
    try:
        commit, diffs = diff(args.base, args.stack)
        text = render(diffs, args.base, commit, None if args.whole else COMMENT_LIMIT)
    except DiffError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
