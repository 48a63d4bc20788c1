"""The scaling and layout figures as one PNG: medians as bars, the spread over runs as error bars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

PANELS = (
    ("app_nodes_", "_rps", "claim 3: app tier throughput by node count"),
    ("layout_", "_rps", "claim 4: one box against a split, same budget"),
)
FALLBACK = ("", "_rps", "throughput of each figure (req/s)")


def panels(figures: dict[str, Any]) -> list[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """The panels this run's figures fill; with neither scaling nor layout figures, every throughput figure."""
    found = []
    for prefix, suffix, title in PANELS:
        rows = [(key, f) for key, f in figures.items() if key.startswith(prefix) and key.endswith(suffix)]
        if rows:
            found.append((title, rows))
    if not found:
        prefix, suffix, title = FALLBACK
        rows = [(key, f) for key, f in figures.items() if key.endswith(suffix)]
        if rows:
            found.append((title, rows))
    return found


def draw(result: dict[str, Any], path: Path) -> Path:
    """One panel per group of figures, as horizontal bars; a log scale where they span more than two decades."""
    chosen = panels(result["figures"])
    rows_total = sum(len(rows) for _, rows in chosen) or 1
    fig, axes = plt.subplots(max(1, len(chosen)), 1, figsize=(9, 1.2 + 0.45 * rows_total + 0.8 * len(chosen)),
                             squeeze=False)
    for ax, (title, rows) in zip(axes[:, 0], chosen):
        labels = [f["label"] for _, f in rows]
        medians = [f["median"] for _, f in rows]
        below = [f["median"] - f["low"] for _, f in rows]
        above = [f["high"] - f["median"] for _, f in rows]
        ax.barh(range(len(rows)), medians, xerr=[below, above], capsize=3, color="#4c72b0")
        ax.set_yticks(range(len(rows)), labels, fontsize=8)
        ax.invert_yaxis()
        positive = [m for m in medians if m > 0]
        if positive and max(positive) / min(positive) > 100:
            ax.set_xscale("log")
        for y, (_, f) in enumerate(rows):
            ax.annotate(f"{f['median']:,.0f}", (max(f["high"], min(positive) if positive else 1), y), xytext=(4, 0),
                        textcoords="offset points", va="center", fontsize=7)
        ax.set_xlabel("requests per second (median; bars: lowest to highest run)", fontsize=8)
        ax.set_title(title, fontsize=9)
    fig.suptitle(f"make bench STACK={result['stack']}, {result['when']}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
