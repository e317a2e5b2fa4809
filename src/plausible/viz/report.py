"""A run's ``report.md``: title, metrics table, figures and free sections, written atomically."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from plausible.viz._common import PathLike, atomic_write_text, to_numpy

__all__ = ["format_estimate", "format_value", "write_report"]

_ESTIMATE_KEYS = frozenset({"mean", "stderr"})


def _number(value: Any) -> str:
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.4g}"


def format_estimate(mean: float, stderr: float) -> str:
    """``"m ± s"`` with the standard error to two significant figures and the mean to as many
    decimals, the usual way to quote a measurement (``23.00 ± 0.21``, ``12.740 ± 0.068``).

    A standard error that is zero, not finite or absent falls back to four significant figures.
    """
    if not (math.isfinite(mean) and math.isfinite(stderr) and stderr > 0):
        return f"{_number(mean)} ± {_number(stderr)}"
    decimals = min(max(0, 1 - math.floor(math.log10(stderr))), 8)
    return f"{mean:.{decimals}f} ± {stderr:.{decimals}f}"


def format_value(value: Any) -> str:
    """Format one summary value for a markdown cell.

    Floats get 4 significant figures, integers stay exact, an estimate
    ``{"mean": m, "stderr": s, "num_samples": k}`` becomes ``"m ± s (K=k)"`` (see
    :func:`format_estimate`), other mappings
    ``"a: 1, b: 2"``, sequences are comma-joined, ``None`` is an em dash, 0-d tensors and numpy
    scalars count as numbers. ``|`` is escaped so the table stays intact.
    """
    if hasattr(value, "ndim") and getattr(value, "ndim", None) == 0:
        value = to_numpy(value).item()
    if value is None:
        text = "—"
    elif isinstance(value, numbers.Real):
        text = _number(value)
    elif isinstance(value, Mapping):
        if set(value) >= _ESTIMATE_KEYS:
            text = format_estimate(float(value["mean"]), float(value["stderr"]))
            if "num_samples" in value:
                text += f" (K={format_value(value['num_samples'])})"
        else:
            text = ", ".join(f"{k}: {format_value(v)}" for k, v in value.items())
    elif isinstance(value, str):
        text = value
    elif isinstance(value, Iterable):
        text = ", ".join(format_value(v) for v in value)
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _table_rows(summary: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested mappings into ``(name, value)`` rows; estimates stay one row."""
    rows: list[tuple[str, str]] = []
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and not set(value) >= _ESTIMATE_KEYS:
            rows.extend(_table_rows(value, prefix=f"{name}."))
        else:
            rows.append((name, format_value(value)))
    return rows


def _relative_link(figure: PathLike, run_dir: Path) -> str:
    """``figure`` relative to ``run_dir`` with forward slashes, for a markdown link.

    Absolute paths are made relative to ``run_dir``; a relative path that names a file inside
    ``run_dir`` from the current folder (``runs/a/figures/x.png``) is too; any other relative
    path is taken as already relative to ``run_dir`` (``figures/x.png``).
    """
    figure_path, root = Path(figure), run_dir.absolute()
    if figure_path.is_absolute():
        relative = os.path.relpath(figure_path, root)
    elif figure_path.absolute().is_relative_to(root):
        relative = str(figure_path.absolute().relative_to(root))
    else:
        relative = str(figure_path)
    link = PurePath(relative).as_posix()
    return f"<{link}>" if any(c in link for c in " ()<>") else link


def write_report(
    run_dir: PathLike,
    *,
    title: str,
    summary: Mapping[str, Any],
    figures: Mapping[str, PathLike],
    sections: Sequence[tuple[str, str]] = (),
) -> Path:
    """Write ``run_dir/report.md`` atomically; its text depends only on the arguments.

    Args:
        run_dir: The run folder (created if missing); figure links are made relative to it.
        title: The report's top heading.
        summary: Metrics for the table, in order. Floats are shown with 4 significant figures;
            ``{"nll": {"mean": 86.3, "stderr": 0.1, "num_samples": 1000}}`` becomes
            ``86.3 ± 0.1 (K=1000)``; other nested mappings become dotted rows (``test.loss``).
        figures: Heading -> PNG path (absolute, relative to the current folder, or relative to
            ``run_dir``), shown in order.
        sections: Extra ``(heading, markdown body)`` sections appended at the end.

    Returns:
        The path of ``report.md``.
    """
    run_dir = Path(run_dir)
    lines = [f"# {title}", ""]
    rows = _table_rows(summary)
    if rows:
        lines += ["## Summary", "", "| metric | value |", "| --- | --- |"]
        lines += [f"| {format_value(name)} | {value} |" for name, value in rows]
        lines.append("")
    if figures:
        lines += ["## Figures", ""]
        for name, figure in figures.items():
            lines += [f"### {name}", "", f"![{name}]({_relative_link(figure, run_dir)})", ""]
    for heading, body in sections:
        lines += [f"## {heading}", "", body.strip(), ""]
    return atomic_write_text(run_dir / "report.md", "\n".join(lines).rstrip("\n") + "\n")
