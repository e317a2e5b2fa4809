"""A run's ``report.md``: title, metrics table, figures and free sections, written atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePath
from typing import Any

from plausible.io import atomic_write_text
from plausible.reports.formatting import ESTIMATE_KEYS, format_value

__all__ = ["relative_link", "write_report"]

PathLike = str | os.PathLike[str]


def _table_rows(summary: Mapping[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    """Flatten nested mappings into ``(name, value)`` rows; estimates stay one row."""
    rows: list[tuple[str, str]] = []
    for key, value in summary.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value and not set(value) >= ESTIMATE_KEYS:
            rows.extend(_table_rows(value, prefix=f"{name}."))
        else:
            rows.append((name, format_value(value)))
    return rows


def relative_link(target: PathLike, folder: PathLike) -> str:
    """``target`` relative to ``folder`` with forward slashes, ready for a markdown link.

    Absolute paths are made relative to ``folder``; a relative path that names a file inside
    ``folder`` from the current folder (``runs/a/figures/x.png``) is too; any other relative
    path is taken as already relative to ``folder`` (``figures/x.png``). Links with spaces or
    brackets are wrapped in ``<>`` so markdown keeps them whole.
    """
    target_path, root = Path(target), Path(folder).absolute()
    if target_path.is_absolute():
        relative = os.path.relpath(target_path, root)
    elif target_path.absolute().is_relative_to(root):
        relative = str(target_path.absolute().relative_to(root))
    else:
        relative = str(target_path)
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
            lines += [f"### {name}", "", f"![{name}]({relative_link(figure, run_dir)})", ""]
    for heading, body in sections:
        lines += [f"## {heading}", "", body.strip(), ""]
    return atomic_write_text(run_dir / "report.md", "\n".join(lines).rstrip("\n") + "\n")
