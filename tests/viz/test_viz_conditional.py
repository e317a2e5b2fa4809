"""Tests for plausible.viz.conditional: the hypotheses grid's title and subtitle."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import plausible.viz.conditional
from plausible.viz.conditional import hypothesis_grid


def test_hypothesis_grid_puts_the_subtitle_under_the_title(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    titles: list[str | None] = []
    real = plausible.viz.conditional.labelled_rows

    def spy(*args: object, title: str | None = None, **kw: object) -> Path:
        titles.append(title)
        return real(*args, title=title, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(plausible.viz.conditional, "labelled_rows", spy)
    x = torch.rand(2, 1, 4, 4)
    path = hypothesis_grid(
        x, x, torch.rand(3, 2, 1, 4, 4), tmp_path / "h.png", title="Completions", subtitle="KL 0"
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    hypothesis_grid(x, x, torch.rand(3, 2, 1, 4, 4), tmp_path / "h2.png", title="Completions")
    assert titles == ["Completions\nKL 0", "Completions"]
