"""What a deployed stack sees: the program's graph against the golden snapshots taken before any move.

A resource keeps its URN, or names its old URN in `aliases` so a real
`pulumi up` moves it instead of replacing it; every input, user-data
included, is byte-identical. A change meant to show rewrites the snapshots
with `python -m tests.support.golden`, and the diff says what a deployed stack
would see.
"""

from __future__ import annotations

import pytest

from sim.harness import run_program
from sim.snapshot import OPTIONS
from tests.support import golden


def _differing(expected: dict, actual: dict) -> list[str]:
    keys = sorted(set(expected["inputs"]) | set(actual["inputs"]))
    inputs = [f"input {k}" for k in keys if expected["inputs"].get(k) != actual["inputs"].get(k)]
    options = [f"option {k}" for k in OPTIONS if expected[k] != actual[k]]
    return inputs + options + (["type"] if expected["type"] != actual["type"] else [])


@pytest.mark.parametrize("name", sorted(golden.cases()))
def test_graph_matches_its_golden_snapshot(name):
    expected = golden.load(name)
    stack, config = golden.cases()[name]
    run = run_program(config, golden.SECRETS, stack=stack)
    actual = golden.snapshot(run)
    moved = {alias: r.urn for r in run.resources for alias in r.aliases}
    for urn, entry in expected.items():
        now = urn if urn in actual else moved.get(urn)
        assert now is not None, f"{urn} is gone: neither registered nor named by an alias"
        assert not _differing(entry, actual[now]), f"{urn}: {', '.join(_differing(entry, actual[now]))} changed"
    new = set(actual) - set(expected) - set(moved.values())
    assert not new, f"resources a deployed stack does not have: {sorted(new)}"
