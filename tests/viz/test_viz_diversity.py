"""Tests for plausible.viz.diversity: the diversity-quality curve and its legend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from matplotlib.figure import Figure

import plausible.viz.diversity
from plausible.viz.diversity import diversity_quality_curve

LONG = "Class-conditional CVAE on scikit-learn's 8x8 digits: x = label, y = image, learned prior."


def _rows(scale: float, *, errors: bool) -> list[dict[str, float]]:
    rows = []
    for t in (0.25, 0.5, 1.0):
        row = {"temperature": t, "apd": scale * (0.5 + t), "quality_accuracy": 0.5 + 0.4 * t}
        if errors:
            row |= {"best_of_k": 1 - t / 3, "expected_error": 1.2 - t / 4}
        rows.append(row)
    return rows


@pytest.mark.parametrize("errors", [False, True], ids=str)
def test_the_legend_sits_whole_inside_the_figure_and_covers_no_panel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, errors: bool
) -> None:
    seen: dict[str, Any] = {}
    real = plausible.viz.diversity.save_figure

    def spy(fig: Figure, path: Path) -> Path:
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        seen["figure"] = fig.bbox
        seen["legends"] = [lg.get_window_extent(renderer) for lg in fig.legends]
        seen["legends"] += [
            ax.get_legend().get_window_extent(renderer) for ax in fig.axes if ax.get_legend()
        ]
        seen["axes"] = [ax.get_window_extent(renderer) for ax in fig.axes]
        seen["texts"] = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
        return real(fig, path)

    monkeypatch.setattr(plausible.viz.diversity, "save_figure", spy)
    path = diversity_quality_curve(
        {LONG: _rows(1.0, errors=errors), "beta-vae": _rows(0.9, errors=errors)},
        tmp_path / "dq.png",
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (legend,) = seen["legends"]  # one legend, for every panel
    fig = seen["figure"]
    assert fig.x0 <= legend.x0 and legend.x1 <= fig.x1 and fig.y0 <= legend.y0
    assert legend.y1 <= fig.y1
    assert not any(legend.overlaps(ax) for ax in seen["axes"])
    # A long run description is wrapped onto at most two lines.
    (long_label,) = [t for t in seen["texts"] if t.startswith("Class-conditional")]
    lines = long_label.split("\n")
    assert len(lines) <= 2 and all(len(line) <= 48 for line in lines)
    assert ("best-of-K error (right)" in seen["texts"]) == errors
