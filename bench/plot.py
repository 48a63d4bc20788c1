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
    chosen = panels(result["figures"])
    fig, axes = plt.subplots(1, max(1, len(chosen)), figsize=(6 * max(1, len(chosen)), 4.5), squeeze=False)
    for ax, (title, rows) in zip(axes[0], chosen):
        labels = [f["label"] for _, f in rows]
        medians = [f["median"] for _, f in rows]
        below = [f["median"] - f["low"] for _, f in rows]
        above = [f["high"] - f["median"] for _, f in rows]
        ax.bar(range(len(rows)), medians, yerr=[below, above], capsize=4, color="#4c72b0")
        ax.set_xticks(range(len(rows)), [label.replace(", ", ",\n") for label in labels], fontsize=7, rotation=15)
        ax.set_ylabel("requests per second (median, min–max of runs)")
        ax.set_title(title, fontsize=10)
    fig.suptitle(f"make bench STACK={result['stack']}, {result['when']}", fontsize=9)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
