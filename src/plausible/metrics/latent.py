"""Posterior diagnostics: KL per latent dimension and active units (Burda et al., 2016).

Active units have one definition in plausible, the variance rule of :func:`active_units`, and
every report that counts them (the ``nll`` and ``collapse`` metrics) computes it with
:func:`active_unit_summary` on the same examples and names the rule next to the count.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from plausible.data.task_data import TaskData
from plausible.distributions.kl import kl_per_dimension
from plausible.models.protocols import LatentVariableModel

__all__ = [
    "ACTIVE_UNIT_EXAMPLES",
    "ACTIVE_UNIT_THRESHOLD",
    "active_unit_rule",
    "active_unit_summary",
    "active_units",
    "encoder_model",
    "kl_per_latent_dimension",
    "posterior_means",
]

#: Burda et al. (2016): a unit is active when its posterior mean varies by more than this.
ACTIVE_UNIT_THRESHOLD = 0.01
#: Examples whose posterior means the suite's active-unit count uses.
ACTIVE_UNIT_EXAMPLES = 5000


def encoder_model(model: nn.Module, what: str) -> LatentVariableModel:
    """``model`` as a latent-variable model, or a ``TypeError`` saying that ``what`` needs one."""
    if not isinstance(model, LatentVariableModel):
        raise TypeError(
            f"{what} needs a latent-variable model with encode(x) -> q(z|x) and prior() (see "
            f"plausible.models.protocols.LatentVariableModel); {type(model).__name__} is not one"
        )
    return model


@torch.no_grad()
def posterior_means(model: nn.Module, x: Tensor, *, batch_size: int = 1000) -> Tensor:
    """``E_q[z|x]`` for every row of ``x``: ``(N, latent_dim)`` on the CPU."""
    vae = encoder_model(model, "posterior_means")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        return torch.cat(
            [
                vae.encode(x[i : i + batch_size].to(device)).mean.cpu()
                for i in range(0, len(x), batch_size)
            ]
        )
    finally:
        model.train(was_training)


@torch.no_grad()
def kl_per_latent_dimension(model: nn.Module, x: Tensor, *, batch_size: int = 1000) -> Tensor:
    """Mean over the data of ``KL(q(z_d|x) || p(z_d))`` for each latent dimension: ``(D,)`` nats."""
    vae = encoder_model(model, "kl_per_latent_dimension")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total = None
    try:
        for i in range(0, len(x), batch_size):
            q_z = vae.encode(x[i : i + batch_size].to(device))
            kl = kl_per_dimension(q_z, vae.prior())
            s = kl.sum(0).cpu().double()
            total = s if total is None else total + s
    finally:
        model.train(was_training)
    assert total is not None
    return (total / len(x)).float()


def active_units(means: Tensor, *, threshold: float = ACTIVE_UNIT_THRESHOLD) -> tuple[int, Tensor]:
    """Count dimensions whose posterior mean varies across the data.

    A unit u is active when ``Cov_x(E_q[u|x]) > threshold`` (Burda et al., 2016, with 0.01).

    Args:
        means: ``(N, D)`` posterior means.
        threshold: Variance threshold.

    Returns:
        ``(count, variances)`` with ``variances`` of shape ``(D,)``.
    """
    variances = means.double().var(0, unbiased=True).float()
    return int((variances > threshold).sum()), variances


def active_unit_rule(threshold: float, num_examples: int, split: str) -> str:
    """The active-unit rule in words, as reports print it next to the count."""
    return (
        f"Var_x(E_q[z_d|x]) > {threshold:g} over the first {num_examples} {split} inputs "
        "(Burda et al., 2016)"
    )


def active_unit_summary(
    model: nn.Module,
    data: TaskData,
    *,
    num_examples: int = ACTIVE_UNIT_EXAMPLES,
    threshold: float = ACTIVE_UNIT_THRESHOLD,
) -> dict[str, Any]:
    """Active units of ``model`` on the task's data, with the rule that counted them.

    The posterior means of the first ``num_examples`` training inputs (all for 0; test inputs
    when the training split holds none, as in Burda et al., 2016, who use the training set) go
    through :func:`active_units`. Every suite metric that reports active units calls this, so
    their counts agree.

    Returns:
        ``{"active_units"`` (count), ``"active_units_rule"`` (the rule in words),
        ``"latent_dim"``, ``"active_unit_variances"`` (``D`` values)``}``.
    """
    train = data.train.get("x")
    split, pool = ("training", train) if train is not None and len(train) else ("test", None)
    if pool is None:
        pool = data.test["x"]
    pool = pool[: num_examples or None]
    count, variances = active_units(posterior_means(model, pool), threshold=threshold)
    return {
        "active_units": count,
        "active_units_rule": active_unit_rule(threshold, len(pool), split),
        "latent_dim": len(variances),
        "active_unit_variances": [round(float(v), 6) for v in variances],
    }
