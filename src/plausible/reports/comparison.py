"""Runs side by side: the comparison table, its figures, ``compare.md`` and ``compare.json``.

Values come from each run's ``config.json`` (objective settings), ``summary.json`` (test metrics,
training) and ``evaluation.json`` (the metrics suite). A row is ranked when the suite knows which
direction is better (lower, higher, or closest to one half for the real-vs-generated classifier);
other metric rows are descriptive (active units, KL: a property of the model, not a score).
Likelihood rows are ranked only when every run measures the same quantity on the same data: a
VAE's -log p(x) and a CVAE's -log p(y|x) in one column get a warning instead. The settings that
differ between the runs' ``config.json`` come first.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn

from plausible.checkpoint import build_model, read_json
from plausible.data.task_data import TaskData
from plausible.io import atomic_write_json, atomic_write_text
from plausible.metrics.disentanglement import mig, posterior_mean_representation
from plausible.metrics.information import normalised_mutual_information
from plausible.metrics.suite import DIRECTIONS, headline
from plausible.models.protocols import ConditionalModel, LatentVariableModel
from plausible.registry import TASKS
from plausible.reports.evaluation import update_report
from plausible.reports.formatting import format_value
from plausible.reports.run_report import relative_link
from plausible.viz.disentanglement import TraversalPanel, traversal_comparison
from plausible.viz.diversity import diversity_quality_curve

__all__ = [
    "LoadedRun",
    "add_to_run_reports",
    "better_text",
    "compare_runs",
    "comparison_figures",
    "comparison_markdown",
    "config_diff",
    "config_diff_table",
    "likelihood_target",
    "markdown_table",
    "write_comparison",
]

#: Marker of the comparison section in each run's ``report.md`` (replaced, not repeated).
COMPARISON_MARKER = "comparison"

#: ``better`` of a metric row that no direction ranks: it describes the model (active units, the
#: KL term, the latent size) rather than scoring it.
DESCRIPTIVE = "descriptive"

#: summary.json's names for the ``nll`` metric's values of an unconditional latent model.
_LATENT_NAMES = {
    "test_nll": "nll",
    "test_negative_elbo": "negative_elbo",
    "test_reconstruction_nll": "reconstruction",
    "test_kl": "kl",
}

#: The ``nll`` metric's values that are (bounds on) -log p(target), in nats or bits.
_LIKELIHOODS = frozenset(
    {
        "nll",
        "nll_mc",
        "nll_is",
        "negative_elbo",
        "reconstruction",
        "bits_per_dim",
        "nll_per_element",
    }
)


class LoadedRun(Protocol):
    """What the figures need of a trained run; ``plausible.runs.load_run`` returns one."""

    @property
    def model(self) -> nn.Module: ...

    @property
    def config(self) -> Mapping[str, Any]: ...

    def load_data(self) -> TaskData: ...


# -- the table -------------------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_estimate(value: Any) -> bool:
    return isinstance(value, dict) and _is_number(value.get("mean"))


def _scalar(value: Any) -> float | None:
    if _is_estimate(value):
        return float(value["mean"])
    return float(value) if _is_number(value) else None


def _summary_direction(key: str) -> str | None:
    """Direction of a summary.json ``test`` value: the ``nll`` metric's values sit at the top
    (``test_nll``, ``negative_elbo``), other metrics' under their names (``collapse.kl``), a
    companion baseline's ``nll`` values under the baseline's name (``regression.nll``)."""
    if "." not in key:
        return DIRECTIONS.get(f"nll.{_LATENT_NAMES.get(key, key)}")
    if key.startswith("comparison.nll_gain_over_"):
        return "higher"  # the baseline's NLL minus this model's
    return DIRECTIONS.get(key) or DIRECTIONS.get(f"nll.{key.split('.', 1)[1]}")


def _is_likelihood(key: str) -> bool:
    """A row in nats of -log p(target): the ``nll`` metric's values, the run's or a baseline's."""
    base = _LATENT_NAMES.get(key) or key.rsplit(".", 1)[-1]
    return base in _LIKELIHOODS and not key.startswith("comparison.")


def _run_values(path: Path) -> tuple[dict[str, Any], dict[str, str | None]]:
    """Headline values of one run (objective settings, test metrics, suite results, training),
    and the direction of each metric among them (``None`` for settings and training)."""
    config = read_json(path / "config.json")
    summary = read_json(path / "summary.json") if (path / "summary.json").exists() else {}
    values: dict[str, Any] = {"model": config["model"]["name"]}
    directions: dict[str, str | None] = {}
    for key, value in config.get("objective", {}).items():
        if key != "name" and (_is_number(value) or isinstance(value, str)):
            values[f"objective.{key}"] = value
    for key, value in summary.get("test", {}).items():
        if _is_number(value) or _is_estimate(value):
            values[key] = value
        elif isinstance(value, dict):
            values.update(
                {f"{key}.{k}": v for k, v in value.items() if _is_number(v) or _is_estimate(v)}
            )
    for key in values:
        if key != "model" and not key.startswith("objective.") and not key.endswith("time_s"):
            directions[key] = _summary_direction(key) or DESCRIPTIVE
    if (path / "evaluation.json").exists():
        suite = headline(read_json(path / "evaluation.json"))
        values.update(suite)
        directions.update({k: DIRECTIONS.get(k, DESCRIPTIVE) for k in suite})
    training = summary.get("training", {})
    for key in ("epochs", "wall_time_s"):  # not best_val_loss: it depends on the objective's beta
        if _is_number(training.get(key)):
            values[f"training.{key}"] = training[key]
    return values, directions


def likelihood_target(config: Mapping[str, Any]) -> str | None:
    """What a run's likelihood rows measure: the density and the data, e.g.
    ``"-log p(x) on images (digits)"`` for a VAE, ``"-log p(y|x) on class-conditional (digits)"``
    for a CVAE; ``None`` when the model can not be rebuilt from the config.

    The model is rebuilt (untrained; only its protocol is asked) from the config's kwargs.
    """
    model_cfg = dict(config.get("model", {}))
    try:
        model = build_model(model_cfg.pop("name"), model_cfg)
    except (KeyError, TypeError, ValueError):
        return None
    if isinstance(model, LatentVariableModel):
        density = "-log p(x)"
    elif isinstance(model, ConditionalModel):
        density = "-log p(y|x)"
    else:
        return None
    task = dict(config.get("task", {}))
    name = task.get("name", "?")
    return f"{density} on {name}" + (f" ({task['dataset']})" if "dataset" in task else "")


def _flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def config_diff(configs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The settings whose values differ between runs' ``config.json``, in the order of the first.

    Returns:
        ``[{"key": "objective.beta", "values": [1.0, 4.0]}, ...]``, dotted keys, ``None`` where
        a run has no such setting.
    """
    flat = [_flatten(c) for c in configs]
    keys = dict.fromkeys(k for f in flat for k in f)
    rows = []
    for key in keys:
        row = [f.get(key) for f in flat]
        if any(v != row[0] for v in row[1:]):
            rows.append({"key": key, "values": row})
    return rows


def _best(values: list[Any], direction: str | None) -> int | None:
    scores = [_scalar(v) for v in values]
    finite = [(i, s) for i, s in enumerate(scores) if s is not None and math.isfinite(s)]
    if direction not in ("lower", "higher", "half") or len(finite) < 2:
        return None  # a setting, or a descriptive row
    if direction == "lower":
        return min(finite, key=lambda p: p[1])[0]
    if direction == "higher":
        return max(finite, key=lambda p: p[1])[0]
    return min(finite, key=lambda p: abs(p[1] - 0.5))[0]  # "half": closest to chance


def _names(paths: Sequence[Path]) -> list[str]:
    """Column names: the folder names, with their parent's when two runs share a name."""
    names = [p.name for p in paths]
    if len(set(names)) < len(names):
        names = [f"{p.parent.name}/{p.name}" for p in paths]
    return names


def compare_runs(paths: Sequence[str | Path]) -> dict[str, Any]:
    """The comparison of two or more run folders, as JSON.

    Args:
        paths: Run folders written by ``plausible train``.

    Returns:
        ``{"runs": [folder], "names": [column name], "rows": [row]}``, one row
        ``{"key", "values": [per run, None where absent], "better": "lower" | "higher" | "half" |
        None, "best": index of the best run or None}`` for every value any run has.
    """
    runs = [Path(p) for p in paths]
    if len(runs) < 2:
        raise ValueError(f"a comparison needs at least two run folders, got {len(runs)}")
    for path in runs:
        if not (path / "config.json").exists():
            raise FileNotFoundError(
                f"{path} is not a run folder (no config.json); pass folders "
                "written by `plausible train`"
            )
    values, directions = zip(*(_run_values(p) for p in runs), strict=True)
    configs = [read_json(p / "config.json") for p in runs]
    names = _names(runs)
    targets = [likelihood_target(c) for c in configs]
    keys = list(dict.fromkeys(k for v in values for k in v))
    rows, mixed_rows = [], []
    for key in keys:
        row = [v.get(key) for v in values]
        direction = next((d[key] for d in directions if d.get(key)), None)
        entry = {"key": key, "values": row, "better": direction, "best": _best(row, direction)}
        present = {t for t, v in zip(targets, row, strict=True) if v is not None}
        if _is_likelihood(key) and len(present) > 1:
            # Nats of different densities, or of different data: no run is better.
            entry["best"], entry["comparable"] = None, False
            mixed_rows.append(key)
        rows.append(entry)
    warnings = []
    if mixed_rows:
        by_target: dict[str, list[str]] = {}
        for name, target in zip(names, targets, strict=True):
            by_target.setdefault(target or "an unknown quantity", []).append(name)
        measured = "; ".join(f"{t}: {', '.join(n)}" for t, n in by_target.items())
        warnings.append(
            f"not comparable, not ranked: the likelihood rows ({', '.join(mixed_rows)}) hold "
            f"different quantities ({measured})"
        )
    return {
        "runs": [str(p) for p in runs],
        "names": names,
        "config_diff": config_diff(configs),
        "warnings": warnings,
        "rows": rows,
    }


def better_text(row: Mapping[str, Any]) -> str:
    """The ``better`` cell of a row: its direction, ``descriptive``, or why it is not ranked."""
    if row.get("comparable") is False:
        return f"{row['better']}, not comparable"
    return row["better"] or ""


def config_diff_table(table: Mapping[str, Any]) -> str:
    """The settings that differ between the runs, as a markdown table."""
    if "config_diff" not in table:  # a table built without the runs' configs
        return ""
    if not table["config_diff"]:
        return "The runs' config.json files are identical."
    lines = [
        "| setting | " + " | ".join(table["names"]) + " |",
        "|" + " --- |" * (len(table["names"]) + 1),
    ]
    for row in table["config_diff"]:
        cells = ["—" if v is None else f"`{_setting(v)}`" for v in row["values"]]
        lines.append(f"| {row['key']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _setting(value: Any) -> str:
    """A config value as one short cell (lists as ``[a, b]``, strings without quotes)."""
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_setting(v) for v in value) + "]"
    return str(value)


def markdown_table(table: Mapping[str, Any]) -> str:
    """The comparison as a markdown table; the best value of each ranked row is bold, and a
    warning line under it says which rows are not comparable."""
    head = "| metric | " + " | ".join(table["names"]) + " | better |"
    lines = [head, "|" + " --- |" * (len(table["names"]) + 2)]
    for row in table["rows"]:
        cells = [format_value(v) for v in row["values"]]
        if row["best"] is not None:
            cells[row["best"]] = f"**{cells[row['best']]}**"
        lines.append(f"| {row['key']} | " + " | ".join(cells) + f" | {better_text(row)} |")
    lines += ["", *(f"> **Warning**: {w}" for w in table.get("warnings", []))]
    return "\n".join(lines).rstrip("\n")


# -- figures ---------------------------------------------------------------------------------------
def _has_known_factors(paths: Sequence[Path]) -> bool:
    """All runs are of one task whose data carry ground-truth factors (dsprites)."""
    tasks = {read_json(p / "config.json")["task"]["name"] for p in paths}
    task = tasks.pop() if len(tasks) == 1 else ""
    # A class attribute of the task, declared by the tasks that have factors; absent elsewhere.
    return task in TASKS and bool(TASKS.get(task).known_factors)


def _traversals(
    runs: Sequence[LoadedRun], names: Sequence[str], path: Path, mi_points: int
) -> Path | None:
    """Factor-labelled traversals of each latent-variable model, side by side."""
    if not all(isinstance(r.model, LatentVariableModel) for r in runs):
        return None
    data = runs[0].load_data()
    truth = data.info["ground_truth"]
    panels = []
    torch.manual_seed(0)
    for name, run in zip(names, runs, strict=True):
        gap = mig(truth, posterior_mean_representation(run.model), num_points=mi_points)
        beta = run.config.get("objective", {}).get("beta")
        label = (
            f"{name}"
            + (f" (beta = {beta:g})" if _is_number(beta) else "")
            + f": MIG {gap['score']:.2f}"
        )
        panels.append(TraversalPanel(label, run.model, normalised_mutual_information(gap)))
    return traversal_comparison(
        panels, path, factor_names=truth.factor_names, x=data.test["x"][:500]
    )


def comparison_figures(
    paths: Sequence[str | Path],
    names: Sequence[str],
    out_dir: str | Path,
    *,
    load_run: Callable[[Path], LoadedRun],
    mi_points: int = 10_000,
) -> dict[str, Path]:
    """Draw the figures that suit the runs into ``out_dir``.

    Diversity-quality curves of every run whose ``evaluation.json`` has one; for runs of one task
    with known factors (dsprites), factor-labelled traversals side by side, each labelled with
    its MIG.

    Args:
        paths: Run folders.
        names: Their column names (:func:`compare_runs`'s ``"names"``).
        out_dir: Folder for the PNGs.
        load_run: Loads a run folder; called only when the traversals apply.
        mi_points: Observations for the mutual information that labels the traversal rows.

    Returns:
        Title -> PNG path.
    """
    runs, out_dir = [Path(p) for p in paths], Path(out_dir)
    figs: dict[str, Path] = {}
    curves = {}
    for name, path in zip(names, runs, strict=True):
        if (path / "evaluation.json").exists():
            result = read_json(path / "evaluation.json").get("diversity-quality", {})
            if "details" in result:
                curves[name] = result["details"]["curve"]
    if curves:
        figs["diversity against quality"] = diversity_quality_curve(
            curves, out_dir / "diversity_quality.png"
        )
    if _has_known_factors(runs):
        loaded = [load_run(p) for p in runs]
        figure = _traversals(loaded, names, out_dir / "traversals_side_by_side.png", mi_points)
        if figure is not None:
            figs["entangled vs disentangled traversals"] = figure
    return figs


# -- documents -------------------------------------------------------------------------------------
def comparison_markdown(table: Mapping[str, Any], figures: Mapping[str, Path]) -> str:
    """The text of ``compare.md``: the runs, the table and the figures (beside it, by name)."""
    lines = [
        f"# Comparison of {len(table['runs'])} runs",
        "",
        "Runs: " + ", ".join(f"`{p}`" for p in table["runs"]),
        "",
        "## Settings that differ",
        "",
        config_diff_table(table),
        "",
        "## Metrics",
        "",
        "Bold: the best value of each row that has a direction (lower / higher / half = closest "
        "to 50% for the real-vs-generated classifier). Descriptive rows (active units, KL, latent "
        "size) describe the models and are not ranked.",
        "",
        markdown_table(table),
        "",
    ]
    for title, fig in figures.items():
        lines += [f"## {title}", "", f"![{title}]({fig.name})", ""]
    return "\n".join(lines)


def write_comparison(
    out_dir: str | Path, table: Mapping[str, Any], figures: Mapping[str, Path]
) -> tuple[Path, Path]:
    """Write ``compare.md`` and ``compare.json`` into ``out_dir``; return their paths."""
    out_dir = Path(out_dir)
    md = atomic_write_text(out_dir / "compare.md", comparison_markdown(table, figures))
    document = {**table, "figures": {k: str(v) for k, v in figures.items()}}
    return md, atomic_write_json(out_dir / "compare.json", document)


def add_to_run_reports(table: Mapping[str, Any], figures: Mapping[str, Path]) -> list[Path]:
    """Put the table and figures into each compared run's ``report.md``, replacing an earlier
    comparison section; return the reports' paths."""
    table_md = markdown_table(table)
    reports = []
    for run in map(Path, table["runs"]):
        links = [
            f"![{title}]({relative_link(fig.resolve(), run.resolve())})"
            for title, fig in figures.items()
        ]
        section = "\n\n".join(
            ["## Comparison with other runs", config_diff_table(table), table_md, *links]
        )
        reports.append(update_report(run, section, marker=COMPARISON_MARKER))
    return reports
