"""Posterior-collapse diagnostics: I(x; z) under the aggregate posterior, KL per dim, units."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch.distributions import Independent, Normal

from plausible.data.task_data import TaskData
from plausible.metrics.latent import (
    ACTIVE_UNIT_EXAMPLES,
    active_unit_summary,
    active_units,
    encoder_model,
    kl_per_latent_dimension,
    posterior_means,
)
from plausible.metrics.suite import (
    SHARED,
    NotApplicableError,
    conditional,
    held_out_inputs,
    options,
    suite_metric,
)
from plausible.models.protocols import LatentVariableModel

if TYPE_CHECKING:
    from plausible.objectives.output import ObjectiveOutput

__all__ = [
    "CollapseMonitor",
    "collapse_diagnostics",
    "collapse_metric",
    "encode_all",
    "mutual_information",
]

log = logging.getLogger(__name__)


@torch.no_grad()
def encode_all(model: nn.Module, x: Tensor, *, batch_size: int = 1000) -> Normal:
    """q(z|x) of every row of ``x`` as one factorised ``Normal`` with batch shape ``(N, D)``.

    Args:
        model: A model with ``encode(x)`` returning ``Independent(Normal, 1)`` (every encoder in
            plausible does).
        x: ``(N, *x_shape)`` observations.
        batch_size: Rows encoded at once.

    Returns:
        ``Normal(loc, scale)`` on the CPU in float64, ``loc`` and ``scale`` of shape ``(N, D)``.
    """
    vae = encoder_model(model, "encode_all")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    locs, scales = [], []
    try:
        for i in range(0, len(x), batch_size):
            q_z = vae.encode(x[i : i + batch_size].to(device))
            base = q_z.base_dist if isinstance(q_z, Independent) else q_z
            if not isinstance(base, Normal):
                raise TypeError(
                    f"the aggregate-posterior estimate needs a factorised Gaussian q(z|x) "
                    f"(Independent(Normal)); the encoder returned {type(q_z).__name__} over "
                    f"{type(base).__name__}"
                )
            locs.append(base.loc.double().cpu())
            scales.append(base.scale.double().cpu())
    finally:
        model.train(was_training)
    return Normal(torch.cat(locs), torch.cat(scales))


@torch.no_grad()
def mutual_information(
    model: nn.Module,
    x: Tensor,
    *,
    num_samples: int = 1,
    seed: int = 0,
    batch_size: int = 1000,
    chunk: int = 128,
) -> dict[str, Any]:
    """``I(x; z)`` under the aggregate posterior, in total and for each latent dimension.

    With the data ``x_1..x_N`` as the distribution of x and ``q(z) = (1/N) sum_m q(z|x_m)``,
    ``I(x; z) = E_n E_{z ~ q(z|x_n)} [log q(z|x_n) - log q(z)]``, which equals the average of
    ``KL(q(z|x_n) || q(z))`` and lies in ``[0, log N]``. The inner expectation is estimated with
    ``num_samples`` draws per example and ``q(z)`` is the exact mixture over all N examples
    (Hoffman & Johnson, 2016; He et al., 2019). ``I(x; z_d)`` uses the marginal mixtures of
    dimension ``d``. A collapsed model (q(z|x) the same for every x) has ``I = 0``.

    Args:
        model: A model with ``encode(x) -> Independent(Normal)``.
        x: ``(N, *x_shape)`` observations (cost grows as ``N^2 D``; a few thousand is typical).
        num_samples: Draws of z per example.
        seed: Seed of the draws.
        batch_size: Rows encoded at once.
        chunk: Draws scored against all N components at once (bounds memory at
            ``chunk * N * D`` floats).

    Returns:
        ``{"total"`` (nats), ``"per_dimension"`` (D values, nats), ``"upper_bound"`` (log N),
        ``"num_examples"``, ``"num_samples"``, ``"estimator"``}``.

    References:
        Hoffman, M. D. and Johnson, M. J. "ELBO surgery: yet another way to carve up the
        variational evidence lower bound." NIPS Workshop on Advances in Approximate Bayesian
        Inference, 2016.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    if len(x) < 2:
        raise ValueError(f"the aggregate posterior needs at least 2 examples, got {len(x)}")
    q = encode_all(model, x, batch_size=batch_size)
    n = q.loc.shape[0]
    gen = torch.Generator().manual_seed(seed)
    eps = torch.randn((num_samples, *q.loc.shape), generator=gen, dtype=torch.float64)
    z = (q.loc + q.scale * eps).reshape(-1, q.loc.shape[1])  # (S*N, D), row s*N + n from x_n
    owner = torch.arange(n).repeat(num_samples)
    log_n = math.log(n)
    total = torch.zeros((), dtype=torch.float64)
    per_dim = torch.zeros(q.loc.shape[1], dtype=torch.float64)
    for i in range(0, len(z), chunk):
        zc = z[i : i + chunk]
        log_q = q.log_prob(zc[:, None, :])  # (c, N, D): log q(z_d | x_m) for every component m
        own = log_q[torch.arange(len(zc)), owner[i : i + chunk]]  # (c, D): log q(z_d | x_n)
        marginal_d = torch.logsumexp(log_q, dim=1) - log_n  # (c, D): log q(z_d)
        marginal = torch.logsumexp(log_q.sum(-1), dim=1) - log_n  # (c,): log q(z)
        total += (own.sum(-1) - marginal).sum()
        per_dim += (own - marginal_d).sum(0)
    count = len(z)
    return {
        "total": float(total / count),
        "per_dimension": [round(float(v), 6) for v in per_dim / count],
        "upper_bound": log_n,
        "num_examples": n,
        "num_samples": num_samples,
        "estimator": "E[log q(z|x) - log q(z)], q(z) the exact mixture over the examples",
    }


def collapse_diagnostics(
    model: nn.Module,
    x: Tensor,
    *,
    threshold: float = 0.01,
    num_samples: int = 1,
    seed: int = 0,
) -> dict[str, Any]:
    """Everything that tells a collapsed posterior from a used one, on the same examples.

    Args:
        model: A VAE-like model with ``encode`` and ``prior``.
        x: ``(N, *x_shape)`` observations.
        threshold: Active-unit threshold on ``Var_x(E_q[z_d|x])`` (Burda et al., 2016: 0.01).
        num_samples: Draws per example for the mutual information.
        seed: Seed of those draws.

    Returns:
        ``{"mutual_information"`` (nats), ``"mutual_information_per_dimension"``,
        ``"mutual_information_upper_bound"`` (log N), ``"kl"`` (mean total KL to the prior,
        nats), ``"kl_per_dimension"``, ``"active_units"``, ``"active_unit_variances"``,
        ``"latent_dim"``, ``"num_examples"``}``. The KL to the prior splits as
        ``KL = I(x; z) + KL(q(z) || p(z))``: a large KL with a small I is a prior mismatch, not
        information about x.
    """
    info = mutual_information(model, x, num_samples=num_samples, seed=seed)
    kl_dims = kl_per_latent_dimension(model, x)
    count, variances = active_units(posterior_means(model, x), threshold=threshold)
    return {
        "mutual_information": info["total"],
        "mutual_information_per_dimension": info["per_dimension"],
        "mutual_information_upper_bound": info["upper_bound"],
        "kl": float(kl_dims.double().sum()),
        "kl_per_dimension": [round(float(v), 6) for v in kl_dims],
        "active_units": count,
        "active_unit_threshold": threshold,
        "active_unit_variances": [round(float(v), 6) for v in variances],
        "latent_dim": len(kl_dims),
        "num_examples": len(x),
    }


class CollapseMonitor:
    """Trainer callback: collapse diagnostics on fixed examples after every ``every`` epochs.

    Writes a ``metrics.jsonl`` row ``{"split": "collapse", "epoch", "step",
    "mutual_information", "active_units", "kl", "kl_per_dimension",
    "mutual_information_per_dimension"}`` through the trainer's log, so the per-epoch curves can
    be drawn after training (``plausible.viz.disentanglement.collapse_curves``). It implements the
    trainer's ``Callback`` hooks (``on_step_end``, ``on_epoch_end``) without importing the
    training package (metrics never do).

    Args:
        x: ``(N, *x_shape)`` fixed examples, e.g. the first 1,000 validation images.
        every: Epochs between two measurements.
        threshold: Active-unit threshold.
    """

    def __init__(self, x: Tensor, *, every: int = 1, threshold: float = 0.01) -> None:
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}")
        self.x = x
        self.every = every
        self.threshold = threshold

    def on_step_end(self, trainer: Any, out: ObjectiveOutput) -> None:
        """Nothing per step."""

    def on_epoch_end(self, trainer: Any) -> None:
        """Measure and log when ``trainer.epoch`` is a multiple of ``every``."""
        if trainer.epoch % self.every:
            return
        # Seeded draws from their own generator: the training RNG stream is left untouched.
        stats = collapse_diagnostics(trainer.model, self.x, threshold=self.threshold)
        keys = (
            "mutual_information",
            "active_units",
            "kl",
            "kl_per_dimension",
            "mutual_information_per_dimension",
        )
        trainer.log.write(
            {
                "step": trainer.step,
                "epoch": trainer.epoch,
                "split": "collapse",
                **{k: stats[k] for k in keys},
            }
        )


@suite_metric(
    "collapse",
    "posterior collapse: I(x;z) under the aggregate posterior, KL per dim, active units",
    shared=(*SHARED, "active_unit_examples"),
)
def collapse_metric(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``collapse`` suite metric: :func:`collapse_diagnostics` on the first test inputs.

    Its active units are those of :func:`~plausible.metrics.latent.active_unit_summary` (the
    same examples and rule as the ``nll`` metric's, so the two counts agree), with the rule in
    ``active_units_rule``; I(x; z) and the KL are measured on the test inputs.
    """
    opts = options(
        settings,
        "collapse",
        {
            "num_examples": 2000,
            "threshold": 0.01,
            "seed": 0,
            "active_unit_examples": ACTIVE_UNIT_EXAMPLES,
        },
    )
    if conditional(data):
        raise NotApplicableError(
            "collapse diagnostics use q(z|x) of an unconditional VAE-like model"
        )
    if not isinstance(model, LatentVariableModel):
        raise NotApplicableError(
            f"{type(model).__name__} is not a latent-variable model: collapse diagnostics need "
            "q(z|x) and p(z)"
        )
    threshold = float(opts["threshold"])
    stats = collapse_diagnostics(
        model,
        held_out_inputs(data, int(opts["num_examples"])),
        threshold=threshold,
        seed=int(opts["seed"]),
    )
    units = active_unit_summary(
        model, data, num_examples=int(opts["active_unit_examples"]), threshold=threshold
    )
    stats.update(units)
    keys = (
        "mutual_information",
        "mutual_information_upper_bound",
        "kl",
        "active_units",
        "active_units_rule",
        "latent_dim",
    )
    return {
        **{k: stats[k] for k in keys},
        "settings": opts,
        "details": {k: v for k, v in stats.items() if k not in keys},
    }
