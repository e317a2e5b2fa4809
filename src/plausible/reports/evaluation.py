"""Evaluation documents: ``evaluation.json``, the suite's report section, summary.json's test part.

The metrics suite (:mod:`plausible.metrics.suite`) computes; this module writes what it computed
into the run folder. ``report.md`` sections are kept between HTML-comment markers, so a section
written by ``plausible evaluate --metrics`` or ``plausible compare`` is replaced, never repeated,
and survives a rewritten report (:func:`reattach_sections`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from torch import nn

from plausible.data.task_data import TaskData
from plausible.io import atomic_write_json, atomic_write_text
from plausible.metrics.information import normalised_mutual_information
from plausible.metrics.suite import DIRECTIONS, headline, held_out_inputs
from plausible.reports.formatting import format_value
from plausible.reports.run_report import relative_link
from plausible.viz import kl_per_dimension_bars
from plausible.viz.disentanglement import factor_traversal, mutual_information_matrix
from plausible.viz.diversity import diversity_quality_curve

__all__ = [
    "SUITE_MARKER",
    "reattach_sections",
    "report_section",
    "suite_figures",
    "summary_section",
    "update_report",
    "write_evaluation",
]

SUITE_MARKER = "evaluation-suite"

#: Names that summary.json's ``test`` section has always given the likelihoods of an
#: unconditional latent model (``plausible train`` prints them; earlier run folders hold them).
#: The KL level (nats) drawn on the KL-per-dimension bars, as on the task's own figure.
KL_LEVEL_NATS = 0.01

_LATENT_NAMES = {
    "nll": "test_nll",
    "negative_elbo": "test_negative_elbo",
    "reconstruction": "test_reconstruction_nll",
    "kl": "test_kl",
}


def summary_section(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """summary.json's ``test`` section from the suite's results.

    The ``nll`` metric's values sit at the top (for an unconditional latent model under their
    earlier names ``test_nll``, ``test_negative_elbo``, ``test_reconstruction_nll``,
    ``test_kl``); every other metric's values sit under its name, a skipped one as
    ``{"skipped": reason}``. Settings and details stay in ``evaluation.json``.
    """
    out: dict[str, Any] = {}
    for name, result in results.items():
        values = {k: v for k, v in result.items() if k not in ("settings", "details", "time_s")}
        if name != "nll" or "skipped" in result:
            out[name] = values
            continue
        latent = result.get("details", {}).get("model") == "LatentVariableModel"
        out.update({(_LATENT_NAMES.get(k, k) if latent else k): v for k, v in values.items()})
    return out


def write_evaluation(run_dir: str | Path, results: Mapping[str, Any]) -> Path:
    """Merge ``results`` into ``run_dir/evaluation.json`` (metric by metric) and return its path."""
    path = Path(run_dir) / "evaluation.json"
    merged: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    merged.update(results)
    atomic_write_json(path, merged)
    return path


def report_section(
    results: Mapping[str, Mapping[str, Any]], figures: Mapping[str, Path], run_dir: Path
) -> str:
    """Markdown of the suite's results: headline table, settings per metric, figures."""
    lines = [
        "## Evaluation suite",
        "",
        "Written by `plausible evaluate --metrics`; the full results are in `evaluation.json`.",
        "",
        "| metric | value | better |",
        "| --- | --- | --- |",
    ]
    for key, value in headline(results).items():
        lines.append(f"| {key} | {format_value(value)} | {DIRECTIONS.get(key, '')} |")
    lines.append("")
    for name, result in results.items():
        if "skipped" in result:
            lines.append(f"- **{name}**: skipped: {result['skipped']}")
        elif "settings" in result:
            opts = ", ".join(f"{k}={v}" for k, v in result["settings"].items())
            lines.append(f"- **{name}** ({result.get('time_s', '?')} s): {opts}")
    if "fd" in results and "skipped" not in results["fd"]:
        lines += [
            "",
            "Frechet distance, precision and recall are measured in the features of a "
            "small classifier trained here on the task's data: they rank models of this task "
            "and are **not comparable to Inception FID**.",
        ]
    lines.append("")
    for title, fig in figures.items():
        lines += [f"### {title}", "", f"![{title}]({relative_link(fig, run_dir)})", ""]
    return "\n".join(lines).rstrip("\n")


def update_report(run_dir: str | Path, section: str, *, marker: str = SUITE_MARKER) -> Path:
    """Put ``section`` into ``run_dir/report.md`` between HTML-comment markers named ``marker``,
    replacing what an earlier call with the same marker put there."""
    start, end = f"<!-- plausible:{marker} -->", f"<!-- /plausible:{marker} -->"
    block = f"{start}\n{section}\n{end}"
    path = Path(run_dir) / "report.md"
    text = path.read_text() if path.exists() else f"# Run report: {Path(run_dir).name}\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = head.rstrip("\n") + "\n\n" + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    atomic_write_text(path, text)
    return path


def reattach_sections(run_dir: str | Path, old_report: str) -> None:
    """Put the marked sections of an earlier ``report.md`` text back into the current one.

    ``runs.evaluate_run`` rewrites ``report.md`` from scratch; reading the old text first and
    calling this afterwards keeps the sections written by ``plausible evaluate --metrics`` and
    ``plausible compare --update-reports``.
    """
    pattern = r"<!-- plausible:([\w-]+) -->\n(.*?)\n<!-- /plausible:\1 -->"
    for marker, section in re.findall(pattern, old_report, flags=re.DOTALL):
        update_report(run_dir, section, marker=marker)


def suite_figures(
    model: nn.Module,
    data: TaskData,
    results: Mapping[str, Mapping[str, Any]],
    figures_dir: str | Path,
    *,
    title: str = "",
) -> dict[str, Path]:
    """Figures for the results that have one (KL bars, labelled traversals, curves)."""
    figures_dir = Path(figures_dir)
    out: dict[str, Path] = {}
    collapse = results.get("collapse", {})
    if "details" in collapse:
        out["KL per latent dimension"] = kl_per_dimension_bars(
            collapse["details"]["kl_per_dimension"],
            # The task's figure of the same bars, replaced rather than drawn twice.
            figures_dir / "kl_per_dimension.png",
            threshold=KL_LEVEL_NATS,
        )
    dis = results.get("disentanglement", {})
    if "details" in dis:
        info = dis["details"]["mig"]
        names = dis["details"]["factor_names"]
        normalised = normalised_mutual_information(info)
        out["Mutual information between latents and factors"] = mutual_information_matrix(
            normalised, names, figures_dir / "suite_mutual_information.png"
        )
        out["Latent traversals labelled by factor"] = factor_traversal(
            model,
            figures_dir / "suite_factor_traversal.png",
            normalised_mi=normalised,
            factor_names=names,
            x=held_out_inputs(data, 500),
            title=title or "Latent traversals",
        )
    curve = results.get("diversity-quality", {})
    if "details" in curve:
        out["Diversity against quality"] = diversity_quality_curve(
            {title or "model": curve["details"]["curve"]},
            figures_dir / "suite_diversity_quality.png",
        )
    forecast = results.get("forecast-diversity-quality", {})
    if "details" in forecast:
        out["Forecast diversity against quality"] = diversity_quality_curve(
            {title or "model": forecast["details"]["curve"]},
            figures_dir / "suite_forecast_diversity_quality.png",
            # The true law's APD, the diversity to reach, when the data know their law.
            reference_apd=forecast["details"].get("apd_true"),
        )
    return out
