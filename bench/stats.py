"""Pure: figures from repeated runs, as medians and spreads, and the table and JSON they make.

A figure is measured several times, each run side by side with what it is
compared to, so a ratio is taken within one run (the host's load at that
moment cancels out) and only then summarised across runs.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Summary:
    """The median of a figure's runs and the lowest and highest of them."""

    median: float
    low: float
    high: float
    runs: tuple[float, ...]


def summarize(values: Sequence[float]) -> Summary:
    if not values:
        raise ValueError("a figure needs at least one run")
    return Summary(statistics.median(values), min(values), max(values), tuple(values))


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Run by run: each run's numerator over the same run's denominator; a zero denominator gives infinity."""
    if len(numerators) != len(denominators):
        raise ValueError(f"runs do not pair up: {len(numerators)} and {len(denominators)}")
    return [n / d if d else float("inf") for n, d in zip(numerators, denominators)]


@dataclass(frozen=True)
class Target:
    """What a figure should reach: at least, at most, or (for the claim that gunicorn alone collapses) at most a floor."""

    text: str
    met: Callable[[float], bool] = field(compare=False)


def at_least(value: float, unit: str = "×") -> Target:
    return Target(f"≥ {_number(value)}{unit}", lambda x: x >= value)


def at_most(value: float, unit: str = "") -> Target:
    return Target(f"≤ {_number(value)}{unit}", lambda x: x <= value)


def below(value: float, unit: str = "") -> Target:
    return Target(f"< {_number(value)}{unit}", lambda x: x < value)


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    """How a value reads: "×" for a ratio, " s", " req/s"."""
    values: tuple[float, ...]
    target: Target | None = None

    @property
    def summary(self) -> Summary:
        return summarize(self.values)

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.met(self.summary.median)


def _number(value: float) -> str:
    if value == float("inf"):
        return "∞"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{value:.2f}"


def measured(figure: Figure) -> str:
    """"0.67× (0.61–0.72)": the median, then the spread when there was more than one run."""
    s = figure.summary
    text = f"{_number(s.median)}{figure.unit}"
    if len(s.runs) > 1:
        text += f" ({_number(s.low)}–{_number(s.high)})"
    return text


def verdict(figure: Figure) -> str:
    return {True: "met", False: "not met", None: ""}[figure.met]


def table(figures: Sequence[Figure]) -> str:
    """The figures as a Markdown table: what, the median and spread, the target, met or not."""
    lines = ["| figure | measured | target | |", "|---|---|---|---|"]
    for f in figures:
        lines.append(f"| {f.label} | {measured(f)} | {f.target.text if f.target else ''} | {verdict(f)} |")
    return "\n".join(lines)


def as_json(figures: Sequence[Figure], context: dict[str, Any]) -> dict[str, Any]:
    """What a run found, with what it ran on: every run's value, the median and the spread."""
    return {
        **context,
        "figures": {
            f.key: {
                "label": f.label,
                "unit": f.unit.strip(),
                "runs": list(f.values),
                "median": f.summary.median,
                "low": f.summary.low,
                "high": f.summary.high,
                "target": f.target.text if f.target else None,
                "met": f.met,
            }
            for f in figures
        },
    }
