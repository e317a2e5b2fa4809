"""Sequences for forecasting: the law of the future where a data set knows it, its sampler, and
windows cut from one long recording.

A forecasting example is a history ``x`` of shape ``(T_obs, D)`` and a future ``y`` of shape
``(T_pred, D)``. The generated data sets draw every future from a known law: a mixture over a few
modes, each a noise-free path (the mode mean) plus i.i.d. Gaussian noise of known scale. That law
gives the exact value of every metric for a sampler that knows it (:class:`LawSampler`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import torch
from torch import Tensor, nn

__all__ = [
    "FutureLaw",
    "GaussianModesLaw",
    "LawSampler",
    "draw_mode_means",
    "sliding_windows",
]


@runtime_checkable
class FutureLaw(Protocol):
    """The exact law ``p(y | x)`` of the future given the history.

    Attributes:
        num_modes: Number of modes ``M`` (some may have probability 0 after a given history).
        mode_names: ``M`` names, for legends and tables.
        tolerance: Distance (L2 over the flattened future, data units) within which a future
            counts as on a mode: exact draws of the law are within it with probability 0.999.
    """

    num_modes: int
    mode_names: tuple[str, ...]
    tolerance: float

    def mode_probs(self, x: Tensor) -> Tensor:
        """``(B, M)`` probability of each mode after each history ``x`` ``(B, T_obs, D)``."""
        ...

    def mode_means(self, x: Tensor) -> Tensor:
        """``(B, M, T_pred, D)`` noise-free future of each mode."""
        ...

    def sample(
        self, x: Tensor, num_samples: int, generator: torch.Generator | None = None
    ) -> Tensor:
        """``(S, B, T_pred, D)`` exact draws of ``p(y | x)``."""
        ...

    def log_prob(self, x: Tensor, y: Tensor) -> Tensor:
        """``(B,)`` exact ``log p(y | x)`` in nats."""
        ...

    def assign_modes(self, x: Tensor, futures: Tensor) -> Tensor:
        """``(S, B)`` index of the mode mean nearest each future ``(S, B, T_pred, D)``."""
        ...


def chi_quantile_999(num_values: int) -> float:
    """The 0.999 quantile of the chi distribution with ``num_values`` degrees of freedom.

    The Wilson-Hilferty cube-root approximation of the chi-square quantile: it errs high, by
    under 1% for ``num_values >= 3`` and under 0.3% from 10 on, which is all a tolerance needs.
    """
    z, k = 3.090232306167813, float(num_values)  # z: the standard normal's 0.999 quantile
    return math.sqrt(k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3)


def draw_mode_means(
    law: FutureLaw, x: Tensor, num_samples: int, generator: torch.Generator | None = None
) -> Tensor:
    """``(S, B, T_pred, D)`` noise-free futures: for each draw, a mode by its probability, then
    that mode's mean path (on the generator's device when one is given, else the means')."""
    probs, means = law.mode_probs(x), law.mode_means(x)
    device = means.device if generator is None else generator.device
    modes = torch.multinomial(probs.to(device), num_samples, True, generator=generator).T
    return means.to(device)[torch.arange(len(x), device=device), modes]


class GaussianModesLaw:
    """A law whose modes are noise-free paths plus i.i.d. ``N(0, noise^2)`` on every value.

    Subclasses give :meth:`mode_probs` and :meth:`mode_means` as functions of the history; this
    class supplies exact sampling, the density, the nearest-mode rule and the tolerance.

    Args:
        y_shape: ``(T_pred, D)`` of one future.
        noise: Standard deviation of every value around its mode mean, data units.
        mode_names: One name per mode.
    """

    def __init__(self, y_shape: Sequence[int], noise: float, mode_names: Sequence[str]) -> None:
        if noise <= 0 or not math.isfinite(noise):
            raise ValueError(f"noise must be a positive number, got {noise}")
        self.y_shape = tuple(int(s) for s in y_shape)
        self.noise = float(noise)
        self.mode_names = tuple(mode_names)
        self.num_modes = len(self.mode_names)
        self.tolerance = self.noise * chi_quantile_999(math.prod(self.y_shape))

    def mode_probs(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def mode_means(self, x: Tensor) -> Tensor:
        raise NotImplementedError

    def sample(
        self, x: Tensor, num_samples: int, generator: torch.Generator | None = None
    ) -> Tensor:
        """``(S, B, T_pred, D)`` exact draws: a mode by its probability, then the noise."""
        picked = draw_mode_means(self, x, num_samples, generator)  # on the generator's device
        noise = torch.randn(
            picked.shape, generator=generator, device=picked.device, dtype=picked.dtype
        )
        return (picked + self.noise * noise).to(x.device)

    def log_prob(self, x: Tensor, y: Tensor) -> Tensor:
        """``(B,)`` exact ``log sum_m p_m N(y; mu_m, noise^2 I)`` in nats (float64)."""
        means = self.mode_means(x).double().flatten(2)  # (B, M, T * D)
        flat = y.double().flatten(1)[:, None]
        if flat.shape[-1] != means.shape[-1]:
            raise ValueError(
                f"futures must be (B, {', '.join(map(str, self.y_shape))}), got {tuple(y.shape)}"
            )
        n = means.shape[-1]
        sq = ((flat - means) ** 2).sum(-1)
        log_normal = -0.5 * sq / self.noise**2 - n * (
            math.log(self.noise) + 0.5 * math.log(2 * math.pi)
        )
        log_p = self.mode_probs(x).double().log()  # -inf for an impossible mode
        return torch.logsumexp(log_p + log_normal, -1)

    def assign_modes(self, x: Tensor, futures: Tensor) -> Tensor:
        """``(S, B)`` nearest mode mean (L2 over the flattened future) of each future."""
        means = self.mode_means(x).double().flatten(2)  # (B, M, T * D)
        flat = futures.double().flatten(2)  # (S, B, T * D)
        return ((flat[:, :, None] - means[None]) ** 2).sum(-1).argmin(-1)


class LawSampler(nn.Module):
    """The ground-truth sampler: a :class:`FutureLaw` behind the conditional-model interface.

    It has no parameters; the metrics score it exactly as they score a trained model, so its row
    of a table shows the value every metric takes for the true law.

    Args:
        law: The law of the future.
        x_shape: ``(T_obs, D)``.
        y_shape: ``(T_pred, D)``.
    """

    def __init__(self, law: FutureLaw, x_shape: Sequence[int], y_shape: Sequence[int]) -> None:
        super().__init__()
        self.law = law
        self.x_shape = tuple(int(s) for s in x_shape)
        self.y_shape = tuple(int(s) for s in y_shape)

    @torch.no_grad()
    def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
        """``(S, B, T_pred, D)``: exact draws, or with ``mean`` the drawn modes' noise-free paths.

        Draws come from torch's global generator, so ``torch.manual_seed`` reproduces them.
        """
        if tuple(x.shape[1:]) != self.x_shape:
            raise ValueError(
                f"LawSampler expects histories (B, {', '.join(map(str, self.x_shape))}), got "
                f"{tuple(x.shape)}"
            )
        if not mean:
            return self.law.sample(x, num_samples)
        return draw_mode_means(self.law, x, num_samples)


def sliding_windows(
    frames: Tensor, t_obs: int, t_pred: int, stride: int = 1
) -> tuple[Tensor, Tensor]:
    """Cut one recording into (history, future) windows.

    Args:
        frames: ``(N, D)`` frames in time order.
        t_obs: Observed frames per window.
        t_pred: Future frames per window.
        stride: Frames between the starts of consecutive windows.

    Returns:
        ``x`` ``(W, t_obs, D)`` and ``y`` ``(W, t_pred, D)``, with
        ``W = (N - t_obs - t_pred) // stride + 1`` (copies, not views).

    Raises:
        ValueError: frames not 2-D, a non-finite frame (named by its index), sizes below 1, or a
            window longer than the recording.
    """
    if not isinstance(frames, Tensor) or frames.dim() != 2:
        shape = tuple(frames.shape) if isinstance(frames, Tensor) else type(frames).__name__
        raise ValueError(f"frames must be a (N, D) tensor of N frames, got {shape}")
    if min(t_obs, t_pred, stride) < 1:
        raise ValueError(
            f"t_obs, t_pred and stride must be >= 1, got {t_obs}, {t_pred} and {stride}"
        )
    bad = (~torch.isfinite(frames)).any(-1).nonzero()
    if len(bad):
        raise ValueError(
            f"frame {int(bad[0])} holds a NaN or infinite value ({len(bad)} such frames); "
            "repair or drop those frames before cutting windows"
        )
    span = t_obs + t_pred
    if span > len(frames):
        raise ValueError(
            f"a window of {t_obs} observed + {t_pred} future frames needs {span} frames, but the "
            f"recording has {len(frames)}; shorten t_obs or t_pred"
        )
    windows = frames.unfold(0, span, stride).transpose(1, 2)  # (W, span, D)
    return windows[:, :t_obs].clone(), windows[:, t_obs:].clone()
