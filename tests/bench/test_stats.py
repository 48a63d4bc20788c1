"""The bench's arithmetic: medians and spreads over runs, ratios run by run, the table and the JSON."""

from __future__ import annotations

import json
import math

import pytest

from bench import stats


def test_a_summary_is_the_median_and_the_extremes_of_the_runs() -> None:
    s = stats.summarize([0.72, 0.61, 0.67])
    assert (s.median, s.low, s.high, s.runs) == (0.67, 0.61, 0.72, (0.72, 0.61, 0.67))
    assert stats.summarize([1.0, 3.0]).median == 2.0


def test_a_figure_needs_a_run() -> None:
    with pytest.raises(ValueError, match="at least one run"):
        stats.summarize([])


def test_ratios_pair_runs_and_a_dead_denominator_is_infinite() -> None:
    assert stats.ratios([10, 30], [20, 10]) == [0.5, 3.0]
    assert math.isinf(stats.ratios([5], [0])[0])
    with pytest.raises(ValueError, match="do not pair up"):
        stats.ratios([1, 2], [1])


def test_the_median_of_ratios_is_not_the_ratio_of_medians() -> None:
    """Why ratios are taken within a run: the host's load in one run cancels out there."""
    site, bare = [100, 50, 80], [100, 100, 80]
    assert stats.summarize(stats.ratios(site, bare)).median == 1.0
    assert stats.summarize(site).median / stats.summarize(bare).median == 0.8


@pytest.mark.parametrize(("target", "value", "met"), [
    (stats.at_least(0.9), 0.9, True), (stats.at_least(0.9), 0.89, False),
    (stats.at_most(60, " s"), 60, True), (stats.at_most(60, " s"), 61, False),
    (stats.below(2, " s"), 1.99, True), (stats.below(2, " s"), 2, False),
])
def test_targets(target: stats.Target, value: float, met: bool) -> None:
    assert target.met(value) is met


def test_the_table_reads_like_the_issue_and_says_met_or_not() -> None:
    figures = [
        stats.Figure("static_vs_bare", "static ÷ bare", "×", (0.72, 0.61, 0.67), stats.at_least(0.9)),
        stats.Figure("program", "the program", " s", (1.5,), stats.below(2, " s")),
        stats.Figure("rps", "throughput", " req/s", (425.0, 203.0, 300.0)),
    ]
    lines = stats.table(figures).splitlines()
    assert lines[0] == "| figure | measured | target | |"
    assert lines[2] == "| static ÷ bare | 0.67× (0.61–0.72) | ≥ 0.90× | not met |"
    assert lines[3] == "| the program | 1.50 s | < 2.00 s | met |"
    assert lines[4] == "| throughput | 300 req/s (203–425) |  |  |"


def test_the_json_keeps_every_run_and_the_context() -> None:
    figure = stats.Figure("cached_vs_uncached", "cached ÷ uncached", "×", (3.5, 2.5, 4.0), stats.at_least(3))
    out = json.loads(json.dumps(stats.as_json([figure], {"stack": "onebox", "runs": 3})))
    assert out["stack"] == "onebox" and out["runs"] == 3
    assert out["figures"]["cached_vs_uncached"] == {
        "label": "cached ÷ uncached", "unit": "×", "runs": [3.5, 2.5, 4.0],
        "median": 3.5, "low": 2.5, "high": 4.0, "target": "≥ 3.00×", "met": True,
    }
