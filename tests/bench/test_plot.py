"""The bench's plot: which figures it draws, and that it writes a PNG."""

from __future__ import annotations

from pathlib import Path

from bench import plot


def _figure(label: str, median: float) -> dict[str, object]:
    return {"label": label, "median": median, "low": median * 0.9, "high": median * 1.1}


def test_scaling_and_layout_get_a_panel_each() -> None:
    figures = {
        "app_nodes_1_rps": _figure("1 node", 100), "app_nodes_2_rps": _figure("2 nodes", 190),
        "app_nodes_2_vs_1": _figure("ratio", 1.9),
        "layout_onebox_rps": _figure("onebox", 300), "layout_split_rps": _figure("split", 200),
        "cached_rps": _figure("cached", 900),
    }
    drawn = plot.panels(figures)
    assert [title for title, _ in drawn] == [plot.PANELS[0][2], plot.PANELS[1][2]]
    assert [key for key, _ in drawn[0][1]] == ["app_nodes_1_rps", "app_nodes_2_rps"]
    assert [key for key, _ in drawn[1][1]] == ["layout_onebox_rps", "layout_split_rps"]


def test_without_them_every_throughput_is_drawn() -> None:
    figures = {"cached_rps": _figure("cached", 900), "cached_vs_uncached": _figure("ratio", 3.2)}
    assert [[key for key, _ in rows] for _, rows in plot.panels(figures)] == [["cached_rps"]]


def test_draw_writes_a_png(tmp_path: Path) -> None:
    result = {"stack": "split", "when": "2026-01-01 00:00 UTC",
              "figures": {"app_nodes_1_rps": _figure("1 node", 100), "app_nodes_3_rps": _figure("3 nodes", 260)}}
    path = plot.draw(result, tmp_path / "out" / "split.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
