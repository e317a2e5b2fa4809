"""The evaluation suite: named metrics run by ``plausible evaluate --metrics``, one JSON dict each.

Every suite metric is registered in ``plausible.registry.METRICS`` as a :class:`SuiteMetric`
taking ``(model, data, settings)`` and returning a JSON-serialisable dict whose top-level numbers
are its headline values (``plausible compare`` shows those); details and the settings used sit
under ``"details"`` and ``"settings"``. A metric that does not apply to a model or task raises
:class:`NotApplicableError`, and the suite records ``{"skipped": reason}`` instead.

Settings: the recipe's ``[evaluation]`` table, where each metric reads its own sub-table
(``[evaluation.disentanglement]``) over the shared keys ``seed``, ``num_examples`` and ``output``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn

from plausible.registry import METRICS

if TYPE_CHECKING:
    from plausible.metrics.diversity import Output
    from plausible.tasks.base import TaskData

__all__ = [
    "DIRECTIONS",
    "NotApplicableError",
    "SuiteMetric",
    "headline",
    "parse_metric_names",
    "reattach_sections",
    "report_section",
    "run_metrics",
    "suite_figures",
    "suite_metric",
    "suite_metric_names",
    "update_report",
    "write_evaluation",
]

log = logging.getLogger(__name__)

MetricFn = Callable[[nn.Module, "TaskData", dict[str, Any]], dict[str, Any]]

#: Which way is better for each headline value (``metric.key``): ``lower``, ``higher`` or
#: ``half`` (closest to 0.5, for the real-vs-generated classifier). Others are descriptive.
DIRECTIONS: dict[str, str] = {
    "nll.nll": "lower",
    "nll.negative_elbo": "lower",
    "nll.reconstruction": "lower",
    "nll.bits_per_dim": "lower",
    "best-of-k.best_of_k": "lower",
    "best-of-k.expected_error": "lower",
    "crps.crps": "lower",
    "crps.energy_score": "lower",
    "quality.accuracy": "half",
    "fd.frechet_distance": "lower",
    "fd.precision": "higher",
    "fd.recall": "higher",
    "disentanglement.beta_vae": "higher",
    "disentanglement.factor_vae": "higher",
    "disentanglement.mig": "higher",
    "disentanglement.dci_disentanglement": "higher",
    "disentanglement.dci_completeness": "higher",
    "disentanglement.dci_informativeness": "higher",
}

_SUITE_MARKER = "evaluation-suite"


class NotApplicableError(Exception):
    """The metric does not apply to this model or task; the message says why and what does."""


@dataclass(frozen=True)
class SuiteMetric:
    """A registered suite metric.

    Attributes:
        name: Registry name (what ``--metrics`` takes).
        fn: ``(model, data, settings) -> dict``.
        description: One line for listings and errors.
    """

    name: str
    fn: MetricFn
    description: str

    def __call__(
        self, model: nn.Module, data: TaskData, settings: dict[str, Any]
    ) -> dict[str, Any]:
        return self.fn(model, data, settings)


def suite_metric(name: str, description: str) -> Callable[[MetricFn], MetricFn]:
    """Register ``fn`` in ``METRICS`` as the suite metric ``name``."""

    def decorate(fn: MetricFn) -> MetricFn:
        METRICS.register(name)(SuiteMetric(name, fn, description))
        return fn

    return decorate


def suite_metric_names() -> list[str]:
    """Names of the registered suite metrics (``METRICS`` also holds plain functions)."""
    return [n for n in METRICS.names() if isinstance(METRICS.get(n), SuiteMetric)]


def parse_metric_names(text: str | Sequence[str]) -> list[str]:
    """``"nll,apd"`` (or a list) to validated names; ``"all"`` means every suite metric."""
    names = [n.strip() for n in (text.split(",") if isinstance(text, str) else text) if n.strip()]
    valid = suite_metric_names()
    if names == ["all"]:
        return valid
    unknown = [n for n in names if n not in valid]
    if unknown or not names:
        raise ValueError(
            f"unknown metric(s) {', '.join(map(repr, unknown)) or '(none given)'}; suite metrics: "
            f"{', '.join(valid)} (or 'all')"
        )
    return list(dict.fromkeys(names))


def _options(settings: Mapping[str, Any], name: str, defaults: dict[str, Any]) -> dict[str, Any]:
    """Defaults, then the shared keys, then the metric's own table; unknown keys are an error."""
    own = settings.get(name, {})
    if not isinstance(own, Mapping):
        raise ValueError(f"evaluation.{name} must be a table of settings, got {own!r}")
    shared = {
        k: settings[k]
        for k in ("seed", "num_examples", "output")
        if k in settings and k in defaults
    }
    unknown = sorted(set(own) - set(defaults))
    if unknown:
        raise ValueError(
            f"unknown evaluation.{name} setting(s) {unknown}; valid: {', '.join(sorted(defaults))}"
        )
    return {**defaults, **shared, **own}


def run_metrics(
    names: Sequence[str],
    model: nn.Module,
    data: TaskData,
    settings: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run suite metrics in order; each result gets its wall time, skipped ones a reason."""
    settings = dict(settings or {})
    results: dict[str, dict[str, Any]] = {}
    model.eval()
    for name in parse_metric_names(names):
        metric = METRICS.get(name)
        tic = time.perf_counter()
        try:
            result = metric(model, data, settings)
        except NotApplicableError as why:
            log.info("%s: skipped (%s)", name, why)
            results[name] = {"skipped": str(why)}
            continue
        result["time_s"] = round(time.perf_counter() - tic, 2)
        values = headline({name: result}).items()
        log.info("%s: %s", name, ", ".join(f"{k} {_scalar(v):.4g}" for k, v in values))
        results[name] = result
    return results


def headline(results: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """``{"metric.key": value}`` for each top-level number or estimate of each result."""
    out: dict[str, Any] = {}
    for name, result in results.items():
        for key, value in result.items():
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if key != "time_s" and (number or (isinstance(value, Mapping) and "mean" in value)):
                out[f"{name}.{key}"] = value
    return out


def _scalar(value: Any) -> float:
    """The number of a headline value (an estimate's mean)."""
    return float(value["mean"] if isinstance(value, Mapping) else value)


# -- helpers shared by the metrics -----------------------------------------------------------------
def _conditional(data: TaskData) -> bool:
    return "y" in data.test


def _test_x(data: TaskData, n: int) -> Tensor:
    """The first ``n`` test inputs (all of them for ``n = 0``)."""
    if "x" not in data.test:
        raise NotApplicableError(f"the task's test split has no 'x' (keys: {sorted(data.test)})")
    return data.test["x"][: n or None]


def _require(model: nn.Module, *methods: str, why: str) -> None:
    missing = [m for m in methods if not hasattr(model, m)]
    if missing:
        raise NotApplicableError(f"{type(model).__name__} has no {', '.join(missing)}: {why}")


def _draw(
    model: nn.Module,
    data: TaskData,
    *,
    num_samples: int,
    n: int,
    output: Output,
    seed: int,
    temperature: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """``(S, B, ...)`` samples and the matching real examples ``(B, ...)`` (targets or images)."""
    from plausible.metrics.diversity import draw_samples

    if _conditional(data):
        x, y = data.test["x"][: n or None], data.test["y"][: n or None]
        samples = draw_samples(
            model, x=x, num_samples=num_samples, temperature=temperature, output=output, seed=seed
        )
        return samples.reshape(num_samples, len(y), *y.shape[1:]), y
    _require(model, "prior", "decode", why="unconditional sampling needs prior() and decode(z)")
    real = _test_x(data, n)
    samples = draw_samples(
        model,
        num_samples=num_samples,
        num_groups=len(real),
        temperature=temperature,
        output=output,
        seed=seed,
    )
    return samples, real


def _summary(values: Tensor) -> dict[str, float]:
    v = values.double()
    return {
        "mean": float(v.mean()),
        "stderr": float(v.std() / math.sqrt(len(v))) if len(v) > 1 else float("nan"),
    }


# -- the metrics -----------------------------------------------------------------------------------
@suite_metric(
    "nll", "negative log-likelihood: IS-NLL and negative ELBO (VAE), -log p(y|x) (CVAE, MDN)"
)
def _nll(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    from plausible.metrics.likelihood import importance_sampled_nll, negative_elbo

    opts = _options(
        settings,
        "nll",
        {
            "num_samples": settings.get("num_samples", 1000),
            "num_examples": 0,
            "batch_size": settings.get("batch_size", 100),
            "memory_budget_mb": settings.get("memory_budget_mb", 512.0),
            "seed": 0,
        },
    )
    n = int(opts["num_examples"])
    if _conditional(data):
        x, y = data.test["x"][: n or None], data.test["y"][: n or None]
        if hasattr(model, "recognize"):
            from plausible.metrics.conditional import conditional_nll

            est = conditional_nll(
                model,  # type: ignore[arg-type]
                x,
                y,
                num_samples=int(opts["num_samples"]),
                batch_size=int(opts["batch_size"]),
                seed=int(opts["seed"]),
                memory_budget_mb=float(opts["memory_budget_mb"]),
            )
            return {"nll": est.to_dict(), "settings": opts}
        if hasattr(model, "predictive"):
            from plausible.metrics.conditional import deterministic_conditional_nll

            return {"nll": deterministic_conditional_nll(model, x, y).to_dict(), "settings": opts}
        if type(model).forward is nn.Module.forward:
            raise NotApplicableError(
                f"{type(model).__name__} has no recognize(x, y), predictive(x) "
                "or forward(x) -> p(y|x) to score -log p(y|x) with"
            )
        with torch.no_grad():
            device = next(model.parameters()).device
            p_y = model(x.to(device))
            if not hasattr(p_y, "log_prob"):
                raise NotApplicableError(f"{type(model).__name__}(x) is not a distribution over y")
            values = -p_y.log_prob(y.to(device)).cpu()
        return {
            "nll": {
                **_summary(values),
                "num_samples": 1,
                "num_examples": len(values),
                "estimator": "exact -log p(y|x)",
            },
            "settings": opts,
        }
    _require(model, "encode", "decode", "prior", why="the likelihood needs a latent-variable model")
    x = _test_x(data, n)
    bound = negative_elbo(model, x)
    est = importance_sampled_nll(
        model,  # type: ignore[arg-type]
        x,
        num_samples=int(opts["num_samples"]),
        batch_size=int(opts["batch_size"]),
        memory_budget_mb=float(opts["memory_budget_mb"]),
    )
    dims = math.prod(x.shape[1:])
    return {
        "nll": est.to_dict(),
        "negative_elbo": bound["negative_elbo"].to_dict(),
        "reconstruction": bound["reconstruction"].to_dict(),
        "kl": bound["kl"].to_dict(),
        "bits_per_dim": est.mean / (dims * math.log(2)),
        "settings": opts,
    }


@suite_metric(
    "apd", "diversity: average pairwise distance between S samples per input (Aliakbarian 2020)"
)
def _apd(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    from plausible.metrics.diversity import average_pairwise_distance

    opts = _options(
        settings, "apd", {"num_samples": 10, "num_examples": 500, "output": "mean", "seed": 0}
    )
    samples, _ = _draw(
        model,
        data,
        num_samples=int(opts["num_samples"]),
        n=int(opts["num_examples"]),
        output=opts["output"],
        seed=int(opts["seed"]),
    )
    values = average_pairwise_distance(samples)
    groups = "inputs" if _conditional(data) else "independent groups of prior samples"
    return {
        "apd": _summary(values),
        "settings": opts,
        "details": {"groups": groups, "units": "L2 distance in output units"},
    }


def _targets(
    model: nn.Module, data: TaskData, opts: dict[str, Any], metric: str
) -> tuple[Tensor, Tensor]:
    if not _conditional(data):
        raise NotApplicableError(
            f"{metric} compares S samples with the target of each input, and this task has no "
            "targets y (an unconditional model); use apd, quality or fd"
        )
    samples, y = _draw(
        model,
        data,
        num_samples=int(opts["num_samples"]),
        n=int(opts["num_examples"]),
        output=opts["output"],
        seed=int(opts["seed"]),
    )
    return samples.flatten(2).double(), y.flatten(1).double()


@suite_metric("best-of-k", "best-of-K (oracle) and expected error of S samples against the target")
def _best_of_k(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    from plausible.metrics.hypotheses import best_of_k_error, expected_error

    opts = _options(
        settings, "best-of-k", {"num_samples": 10, "num_examples": 0, "output": "mean", "seed": 0}
    )
    samples, y = _targets(model, data, opts, "best-of-K")
    return {
        "best_of_k": _summary(best_of_k_error(samples, y)),
        "expected_error": _summary(expected_error(samples, y)),
        "settings": opts,
        "details": {"distance": "Euclidean norm over the flattened output"},
    }


@suite_metric(
    "crps", "CRPS (per output dimension) and energy score of S samples against the target"
)
def _crps(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    from plausible.metrics.diversity import crps_ensemble
    from plausible.metrics.hypotheses import energy_score

    opts = _options(
        settings,
        "crps",
        {"num_samples": 20, "num_examples": 0, "output": "sample", "seed": 0, "fair": True},
    )
    samples, y = _targets(model, data, opts, "CRPS")
    return {
        "crps": _summary(crps_ensemble(samples, y, fair=bool(opts["fair"]))),
        "energy_score": _summary(energy_score(samples, y)),
        "settings": opts,
    }


@suite_metric(
    "quality", "real-vs-generated classifier accuracy, 0.5 = indistinguishable (Aliakbarian 2020)"
)
def _quality(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    from plausible.metrics.diversity import quality_classifier_accuracy

    opts = _options(
        settings,
        "quality",
        {"num_examples": 2000, "output": "mean", "seed": 0, "epochs": 20, "hidden_dims": [256]},
    )
    samples, real = _draw(
        model,
        data,
        num_samples=1,
        n=int(opts["num_examples"]),
        output=opts["output"],
        seed=int(opts["seed"]),
    )
    result = quality_classifier_accuracy(
        real,
        samples[0],
        epochs=int(opts["epochs"]),
        hidden_dims=tuple(opts["hidden_dims"]),
        seed=int(opts["seed"]),
    )
    return {
        "accuracy": {"mean": result.accuracy, "stderr": result.stderr},
        "settings": opts,
        "details": result.to_dict(),
    }


def _labelled_images(data: TaskData, n: int, seed: int) -> tuple[Tensor, Tensor, list[int] | None]:
    truth = data.info.get("ground_truth")
    if truth is not None:
        factors = truth.sample_factors(n, torch.Generator().manual_seed(seed))
        return truth.observations(factors), factors, list(truth.factor_sizes)
    if "x" in data.train and "label" in data.train:
        return data.train["x"][:n].float(), data.train["label"][:n], None
    raise NotApplicableError(
        "fd needs labelled training images to train its feature classifier (a 'label' column or "
        "known factors); this task has neither"
    )


@suite_metric(
    "fd", "Frechet distance and precision/recall in a project-trained classifier's features"
)
def _fd(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    from plausible.data.sources import cache_dir
    from plausible.metrics.sample_quality import (
        extract_features,
        frechet_distance_from_features,
        load_or_train_feature_classifier,
        precision_recall,
    )

    opts = _options(
        settings,
        "fd",
        {
            "num_examples": 2000,
            "output": "mean",
            "seed": 0,
            "k": 3,
            "classifier_examples": 10000,
            "classifier_epochs": 5,
            "feature_dim": 128,
            "channels": [32, 64, 64],
            "cache": True,
        },
    )
    if _conditional(data):
        raise NotApplicableError(
            "fd scores unconditional image models; use quality or best-of-k here"
        )
    x_shape = tuple(data.info.get("x_shape", ()))
    if len(x_shape) != 3:
        raise NotApplicableError(f"fd scores images (C, H, W); this task's x_shape is {x_shape}")
    images, labels, classes = _labelled_images(
        data, int(opts["classifier_examples"]), int(opts["seed"])
    )
    classifier, info = load_or_train_feature_classifier(
        images.reshape(len(images), *x_shape),
        labels,
        cache=cache_dir("feature-classifiers") if opts["cache"] else None,
        num_classes=classes,
        epochs=int(opts["classifier_epochs"]),
        feature_dim=int(opts["feature_dim"]),
        channels=tuple(opts["channels"]),
        seed=int(opts["seed"]),
    )
    samples, real = _draw(
        model,
        data,
        num_samples=1,
        n=int(opts["num_examples"]),
        output=opts["output"],
        seed=int(opts["seed"]),
    )
    real_f = extract_features(classifier, real.reshape(len(real), *x_shape))
    fake_f = extract_features(classifier, samples[0].reshape(len(samples[0]), *x_shape))
    half = len(real_f) // 2
    pr = precision_recall(real_f, fake_f, k=int(opts["k"]))
    return {
        "frechet_distance": frechet_distance_from_features(real_f, fake_f),
        "precision": pr["precision"],
        "recall": pr["recall"],
        "settings": opts,
        "details": {
            "feature_space": "penultimate layer of a classifier trained here on this task's data; "
            "NOT comparable to Inception FID",
            "real_half_vs_half_frechet_distance": frechet_distance_from_features(
                real_f[:half], real_f[half:]
            ),
            "num_real": len(real_f),
            "num_generated": len(fake_f),
            "classifier": info,
        },
    }


@suite_metric(
    "collapse", "posterior collapse: I(x;z) under the aggregate posterior, KL per dim, active units"
)
def _collapse(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    from plausible.metrics.collapse import collapse_diagnostics

    opts = _options(settings, "collapse", {"num_examples": 2000, "threshold": 0.01, "seed": 0})
    if _conditional(data):
        raise NotApplicableError(
            "collapse diagnostics use q(z|x) of an unconditional VAE-like model"
        )
    _require(model, "encode", "prior", why="collapse diagnostics need q(z|x) and p(z)")
    stats = collapse_diagnostics(
        model,
        _test_x(data, int(opts["num_examples"])),
        threshold=float(opts["threshold"]),
        seed=int(opts["seed"]),
    )
    keys = (
        "mutual_information",
        "mutual_information_upper_bound",
        "kl",
        "active_units",
        "latent_dim",
    )
    return {
        **{k: stats[k] for k in keys},
        "settings": opts,
        "details": {k: v for k, v in stats.items() if k not in keys},
    }


@suite_metric(
    "disentanglement", "beta-VAE score, FactorVAE score, MIG and DCI against known factors"
)
def _disentanglement(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    from plausible.metrics import disentanglement as dis

    defaults = {
        "seed": 0,
        "beta_vae_batch_size": 64,
        "beta_vae_num_train": 10_000,
        "beta_vae_num_eval": 5_000,
        "factor_vae_batch_size": 64,
        "factor_vae_num_train": 10_000,
        "factor_vae_num_eval": 5_000,
        "factor_vae_num_variance_estimate": 10_000,
        "factor_vae_prune_threshold": 0.05,
        "mig_num_points": 10_000,
        "mig_num_bins": 20,
        "dci_num_train": 10_000,
        "dci_num_test": 5_000,
    }
    opts = _options(settings, "disentanglement", defaults)
    truth = data.info.get("ground_truth")
    if truth is None:
        raise NotApplicableError(
            "disentanglement scores need data with known factors (e.g. the dsprites task)"
        )
    _require(model, "encode", why="disentanglement scores use the posterior means of q(z|x)")
    rep = dis.posterior_mean_representation(model)
    seed = int(opts["seed"])
    beta = dis.beta_vae_score(
        truth,
        rep,
        batch_size=int(opts["beta_vae_batch_size"]),
        num_train=int(opts["beta_vae_num_train"]),
        num_eval=int(opts["beta_vae_num_eval"]),
        seed=seed,
    )
    factor = dis.factor_vae_score(
        truth,
        rep,
        batch_size=int(opts["factor_vae_batch_size"]),
        num_train=int(opts["factor_vae_num_train"]),
        num_eval=int(opts["factor_vae_num_eval"]),
        num_variance_estimate=int(opts["factor_vae_num_variance_estimate"]),
        prune_threshold=float(opts["factor_vae_prune_threshold"]),
        seed=seed,
    )
    gap = dis.mig(
        truth,
        rep,
        num_points=int(opts["mig_num_points"]),
        num_bins=int(opts["mig_num_bins"]),
        seed=seed,
    )
    dci = dis.dci(
        truth,
        rep,
        num_train=int(opts["dci_num_train"]),
        num_test=int(opts["dci_num_test"]),
        seed=seed,
    )
    return {
        "beta_vae": beta["score"],
        "factor_vae": factor["score"],
        "mig": gap["score"],
        "dci_disentanglement": dci["disentanglement"],
        "dci_completeness": dci["completeness"],
        "dci_informativeness": dci["informativeness_test"],
        "settings": opts,
        "details": {
            "factor_names": list(truth.factor_names),
            "beta_vae": beta,
            "factor_vae": factor,
            "mig": gap,
            "dci": dci,
        },
    }


@suite_metric(
    "diversity-quality", "APD against real-vs-generated accuracy while the temperature sweeps"
)
def _diversity_quality(
    model: nn.Module, data: TaskData, settings: dict[str, Any]
) -> dict[str, Any]:
    from plausible.metrics.diversity import diversity_quality_sweep, quality_classifier_accuracy

    opts = _options(
        settings,
        "diversity-quality",
        {
            "temperatures": [0.25, 0.5, 0.75, 1.0, 1.25, 1.5],
            "num_samples": 10,
            "num_examples": 1000,
            "output": "mean",
            "seed": 0,
            "epochs": 20,
        },
    )
    n, s, seed = int(opts["num_examples"]), int(opts["num_samples"]), int(opts["seed"])
    target = data.test["y"][: n or None] if _conditional(data) else None
    _, real = _draw(model, data, num_samples=1, n=n, output=opts["output"], seed=seed)

    def sample(t: float) -> Tensor:
        return _draw(
            model, data, num_samples=s, n=n, output=opts["output"], seed=seed, temperature=t
        )[0]

    def quality(a: Tensor, b: Tensor) -> Any:
        return quality_classifier_accuracy(a, b, epochs=int(opts["epochs"]), seed=seed)

    rows = diversity_quality_sweep(
        sample, real, opts["temperatures"], target=target, quality=quality
    )
    return {"settings": opts, "details": {"curve": rows}}


# -- writing results -------------------------------------------------------------------------------
def write_evaluation(run_dir: str | Path, results: Mapping[str, Any]) -> Path:
    """Merge ``results`` into ``run_dir/evaluation.json`` (metric by metric) and return its path."""
    from plausible.io import atomic_write_json

    path = Path(run_dir) / "evaluation.json"
    merged: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    merged.update(results)
    atomic_write_json(path, merged)
    return path


def report_section(
    results: Mapping[str, Mapping[str, Any]], figures: Mapping[str, Path], run_dir: Path
) -> str:
    """Markdown of the suite's results: headline table, settings per metric, figures."""
    from plausible.viz.report import format_value

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
        rel = Path(os.path.relpath(Path(fig).resolve(), Path(run_dir).resolve())).as_posix()
        lines += [f"### {title}", "", f"![{title}]({rel})", ""]
    return "\n".join(lines).rstrip("\n")


def update_report(run_dir: str | Path, section: str, *, marker: str = _SUITE_MARKER) -> Path:
    """Put ``section`` into ``run_dir/report.md`` between HTML-comment markers named ``marker``,
    replacing what an earlier call with the same marker put there."""
    from plausible.io import atomic_write_text

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
    from plausible.viz import kl_per_dimension_bars
    from plausible.viz.disentanglement import factor_traversal, mutual_information_matrix
    from plausible.viz.diversity import diversity_quality_curve

    figures_dir = Path(figures_dir)
    out: dict[str, Path] = {}
    collapse = results.get("collapse", {})
    if "details" in collapse:
        out["KL per latent dimension"] = kl_per_dimension_bars(
            collapse["details"]["kl_per_dimension"],
            figures_dir / "suite_kl_per_dimension.png",
            threshold=collapse["settings"]["threshold"],
        )
    dis = results.get("disentanglement", {})
    if "details" in dis:
        info = dis["details"]["mig"]
        names = dis["details"]["factor_names"]
        normalised = [
            [m / h for m, h in zip(row, info["factor_entropy"], strict=True)]
            for row in info["mutual_information"]
        ]
        out["Mutual information between latents and factors"] = mutual_information_matrix(
            normalised, names, figures_dir / "suite_mutual_information.png"
        )
        out["Latent traversals labelled by factor"] = factor_traversal(
            model,
            figures_dir / "suite_factor_traversal.png",
            normalised_mi=normalised,
            factor_names=names,
            x=_test_x(data, 500),
            title=title or "Latent traversals",
        )
    curve = results.get("diversity-quality", {})
    if "details" in curve:
        out["Diversity against quality"] = diversity_quality_curve(
            {title or "model": curve["details"]["curve"]},
            figures_dir / "suite_diversity_quality.png",
        )
    return out
