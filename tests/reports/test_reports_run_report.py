"""Tests for plausible.reports.run_report: the markdown report of a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from plausible.reports import format_value, write_report


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3.14159265, "3.142"),
        (123456.0, "1.235e+05"),
        (7, "7"),
        (True, "True"),
        (None, "—"),
        (float("nan"), "nan"),
        (np.float32(0.5), "0.5"),
        (torch.tensor(2.0), "2"),
        ("a|b", "a\\|b"),
        ([0.123456, 2], "0.1235, 2"),
        ({"mean": 86.34567, "stderr": 0.12345, "num_samples": 1000}, "86.35 ± 0.12 (K=1000)"),
        ({"mean": 1.0, "stderr": 0.5}, "1.00 ± 0.50"),
        ({"mean": 12.7401, "stderr": 0.0684}, "12.740 ± 0.068"),
        ({"mean": 1456.3, "stderr": 23.1}, "1456 ± 23"),
        ({"mean": 3.0, "stderr": float("nan")}, "3 ± nan"),
        ({"mean": 3.0, "stderr": 0.0}, "3 ± 0"),
    ],
    ids=str,
)
def test_format_value(value: object, expected: str) -> None:
    assert format_value(value) == expected


def test_write_report(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    figures_dir = run_dir / "figures"
    summary = {
        "test_elbo": -90.123456,
        "nll": {"mean": 86.34567, "stderr": 0.12345, "num_samples": 1000, "proposal": "q(z|x)"},
        "active_units": 12,
        "val": {"loss": 0.5, "kl": 21.0},
    }
    figures = {
        "Samples": figures_dir / "samples.png",  # absolute, inside run_dir
        "Training curves": Path("figures/curves.png"),  # relative to run_dir
    }
    sections = [("Notes", "Trained for **3** epochs.\n")]
    out = write_report(
        run_dir, title="MNIST VAE", summary=summary, figures=figures, sections=sections
    )
    assert out == run_dir / "report.md"
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# MNIST VAE\n")
    assert "| test_elbo | -90.12 |" in text
    assert "| nll | 86.35 ± 0.12 (K=1000) |" in text
    assert "| active_units | 12 |" in text
    assert "| val.loss | 0.5 |" in text and "| val.kl | 21 |" in text
    assert "![Samples](figures/samples.png)" in text
    assert "![Training curves](figures/curves.png)" in text
    assert "## Notes\n\nTrained for **3** epochs.\n" in text
    assert str(tmp_path) not in text  # no absolute paths leak into the report
    assert text.index("## Summary") < text.index("## Figures") < text.index("## Notes")

    again = write_report(
        run_dir, title="MNIST VAE", summary=summary, figures=figures, sections=sections
    )
    assert again.read_text(encoding="utf-8") == text  # a pure function of its inputs
    assert sorted(p.name for p in run_dir.iterdir()) == ["report.md"]


def test_write_report_relative_run_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = write_report(
        "runs/a",
        title="t",
        summary={},
        figures={"grid": "runs/a/figures/grid.png", "outside": tmp_path / "other" / "x y.png"},
    )
    text = out.read_text(encoding="utf-8")
    assert "![grid](figures/grid.png)" in text
    assert "![outside](<../../other/x y.png>)" in text
    assert "## Summary" not in text
