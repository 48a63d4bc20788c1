"""What a deployed stack sees: the program's graph against the committed golden snapshots."""

from __future__ import annotations

import pytest

from tests.support import golden


@pytest.mark.parametrize("name", sorted(golden.cases()))
def test_graph_matches_its_golden_snapshot(name):
    expected = golden.load(name)
    actual = golden.graph_of(name)
    assert sorted(actual) == sorted(expected), "resources added, removed or moved without an alias"
    for urn, entry in expected.items():
        assert actual[urn] == entry, urn
