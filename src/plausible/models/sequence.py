"""Diverse sequence forecasting: a recurrent conditional VAE (optionally with Mix-and-Match
conditioning) and its deterministic recurrent baseline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from plausible.distributions import DiagonalGaussianHead, StandardNormalPrior
from plausible.distributions.heads import ScaleMode
from plausible.models._conditional import check_pair
from plausible.models._sequence import Forecaster, check_sequence
from plausible.models._validation import apply_head, check_count, check_finite, check_tensor
from plausible.models.baseline import BaselineOutput
from plausible.models.cvae import CVAEOutput, LatentPasses
from plausible.nn import MLP, JointMLP, SequenceEncoder, sample_units
from plausible.registry import MODELS

__all__ = ["SequenceBaseline", "SequenceCVAE"]

Conditioning = Literal["concat", "mix-and-match"]
SequenceLikelihood = Literal["gaussian", "laplace"]


@MODELS.register("sequence-cvae")
class SequenceCVAE(LatentPasses, Forecaster):
    """Recurrent conditional VAE for diverse forecasting: ``p(z|x) p(y|x,z)`` over futures.

    The past ``x`` is read by a GRU into ``h_c`` and, for recognition, the future ``y`` by another
    into ``h_y`` (both of width ``H``). The decoder unrolls the future from a context vector:

    - ``concat``: ``q(z|x,y) = MLP([h_c, h_y])``, context ``MLP([h_c, z])``.
    - ``mix-and-match`` (Aliakbarian et al., 2020): each pass draws for every example a random
      subset ``I`` of the ``H`` units, ``|I| = round(rate * H)``. The recognition network reads
      ``h_y`` on ``I`` and ``h_c`` on the complement; the decoder's context is ``h_c`` on ``I``
      and ``tanh(Linear(z))`` on the complement. The decoder thus sees only part of the history
      and must take the rest from ``z``, which is what keeps the latent in use. This is the
      assignment of the authors' published tutorial code (data on the sampled units in the
      encoder, condition on them in the decoder). ``I`` is one more latent variable with a
      uniform prior, shared by q and p within a pass, so the CVAE bound stays a bound on
      ``log p(y|x)`` and ``generate`` returns ``p(y|x,z,I)`` for a fresh ``I``: an unbiased
      estimate of the density ``p(y|x,z)``. Set ``deterministic_indices`` to use the fixed
      subset ``I = {0, ..., k-1}`` outside training instead (not the paper's method).
      Indices come from torch's global generator, so ``torch.manual_seed`` reproduces samples.

    The rate may follow a curriculum: a linear ramp from ``rate_start`` to ``rate`` over the
    first ``curriculum_steps`` training passes, counted in the buffer ``rate_step`` so that a
    resumed run continues where it stopped.

    Args:
        x_shape: ``(T_obs, D)`` observed frames.
        y_shape: ``(T_pred, D)`` future frames.
        latent_dim: Latent dimensions.
        hidden_size: Width ``H`` of the GRUs and the context.
        num_layers: Stacked GRU layers.
        conditioning: ``concat`` or ``mix-and-match``.
        rate: Mix-and-Match: fraction of units on which the decoder sees the history.
        rate_start: First rate of the curriculum (``None``: no curriculum).
        curriculum_steps: Training passes over which the rate ramps (0: none).
        deterministic_indices: Mix-and-Match outside training: fixed units, not random ones.
        prior: ``learned`` p(z|x) from ``h_c``, or ``standard`` N(0, I).
        recognition_net: Build q(z|x,y); a pure GSNN does not need it.
        likelihood: ``gaussian`` or ``laplace`` over every value of y.
        likelihood_scale: ``fixed``, ``shared`` or ``per_dim`` observation scale.
        likelihood_init_scale: Initial (or fixed) scale, in data units.
        teacher_forcing: Probability of feeding the true previous frame in training (see
            :class:`~plausible.nn.SequenceDecoder`; 0, free running, is the safe default).
        residual: Predict each frame as a displacement from the previous one.
        step_scale: Typical change between frames (data units); when given, the encoders also
            read the changes divided by it (see :class:`~plausible.nn.SequenceEncoder`). The
            forecasting tasks pass the RMS change of their training histories.
        decoder_steps: With ``step_scale``, the decoder also reads each frame's change and
            predicts the next one in units of ``step_scale`` (see
            :class:`~plausible.nn.SequenceDecoder`); off by default so that runs saved before
            it existed load unchanged.
        min_scale: Floor on the standard deviations of q(z|x,y) and p(z|x).

    References:
        Aliakbarian, S., Saleh, F. S., Salzmann, M., Petersson, L. and Gould, S. "A Stochastic
        Conditioning Scheme for Diverse Human Motion Prediction." CVPR 2020.
        Sohn, K., Lee, H. and Yan, X. "Learning Structured Output Representation using Deep
        Conditional Generative Models." NeurIPS 2015.
    """

    rate_step: Tensor

    def __init__(
        self,
        x_shape: Sequence[int] = (10, 2),
        y_shape: Sequence[int] = (10, 2),
        *,
        latent_dim: int = 8,
        hidden_size: int = 64,
        num_layers: int = 1,
        conditioning: Conditioning = "concat",
        rate: float = 0.5,
        rate_start: float | None = None,
        curriculum_steps: int = 0,
        deterministic_indices: bool = False,
        prior: Literal["learned", "standard"] = "learned",
        recognition_net: bool = True,
        likelihood: SequenceLikelihood = "gaussian",
        likelihood_scale: ScaleMode = "shared",
        likelihood_init_scale: float = 1.0,
        teacher_forcing: float = 0.0,
        residual: bool = True,
        step_scale: float | None = None,
        decoder_steps: bool = False,
        min_scale: float = 1e-4,
    ) -> None:
        super().__init__()
        if conditioning not in ("concat", "mix-and-match"):
            raise ValueError(
                f"conditioning must be 'concat' or 'mix-and-match', got {conditioning!r}"
            )
        if prior not in ("learned", "standard"):
            raise ValueError(f"prior must be 'learned' or 'standard', got {prior!r}")
        for name, value in (
            ("rate", rate),
            ("rate_start", rate if rate_start is None else rate_start),
        ):
            if not 0.0 <= float(value) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        self.latent_dim = check_count(latent_dim, "latent_dim", "SequenceCVAE", minimum=1)
        h = check_count(hidden_size, "hidden_size", "SequenceCVAE", minimum=1)
        self._setup(
            x_shape,
            y_shape,
            h,
            h,
            num_layers,
            likelihood,
            likelihood_scale,
            likelihood_init_scale,
            teacher_forcing,
            residual,
            step_scale,
            decoder_steps,
        )
        self.conditioning, self.prior_kind = conditioning, prior
        self.rate, self.rate_start = float(rate), float(rate if rate_start is None else rate_start)
        self.curriculum_steps = check_count(curriculum_steps, "curriculum_steps", "SequenceCVAE")
        self.deterministic_indices = bool(deterministic_indices)
        self.register_buffer("rate_step", torch.zeros((), dtype=torch.long))
        z, d = self.latent_dim, self.y_shape[1]
        self.prior_head = DiagonalGaussianHead((z,), min_scale=min_scale)
        self.posterior_head = DiagonalGaussianHead((z,), min_scale=min_scale)
        self.prior_net: nn.Module = (
            MLP(h, self.prior_head.param_size, (h,))
            if prior == "learned"
            else StandardNormalPrior(z)
        )
        self.future_encoder = (
            SequenceEncoder(d, h, num_layers, step_scale=step_scale) if recognition_net else None
        )
        self.recognition_net: nn.Module | None = None
        mixing = conditioning == "mix-and-match"
        if recognition_net:
            size = self.posterior_head.param_size
            self.recognition_net = MLP(h, size, (h,)) if mixing else JointMLP(h, h, size, (h,))
        # The latent's share of the decoder context: same width and range (tanh) as h_c.
        self.latent_map: nn.Module = (
            nn.Sequential(nn.Linear(z, h), nn.Tanh()) if mixing else JointMLP(h, z, h, (h,))
        )

    @property
    def has_recognition(self) -> bool:
        """Whether q(z|x,y) exists; ``False`` for a GSNN built with ``recognition_net=False``."""
        return self.recognition_net is not None

    # -- Mix-and-Match indices ---------------------------------------------------------------
    def current_rate(self) -> Tensor:
        """The Mix-and-Match rate at the current training step (a 0-d tensor on the device)."""
        if self.curriculum_steps == 0:
            return torch.tensor(self.rate, device=self.rate_step.device)
        done = self.rate_step.clamp(max=self.curriculum_steps) / self.curriculum_steps
        return self.rate_start + (self.rate - self.rate_start) * done

    def _units(self, shape: Sequence[int]) -> Tensor | None:
        """Mask ``(*shape, H)``, ``True`` where the decoder sees h_c; ``None`` for concat."""
        if self.conditioning != "mix-and-match":
            return None
        device = self.rate_step.device
        # Without a curriculum the rate is a constant: no tensor to build on the device.
        rate = self.current_rate() if self.curriculum_steps else self.rate
        if self.deterministic_indices and not self.training:
            k = round(float(rate) * self.hidden_size)
            return (torch.arange(self.hidden_size, device=device) < k).expand(*shape, -1)
        return sample_units(shape, self.hidden_size, rate, device=device)

    # -- the three networks ---------------------------------------------------------------------
    def _prior(self, h_c: Tensor, x: Tensor) -> Distribution:
        if self.prior_kind == "standard":
            return self.prior_net().expand((h_c.shape[0],))
        return apply_head(self.prior_head, self.prior_net(h_c), "prior network", x=x)

    def _recognize(self, h_c: Tensor, x: Tensor, y: Tensor, units: Tensor | None) -> Distribution:
        if self.recognition_net is None or self.future_encoder is None:
            raise ValueError(
                "this SequenceCVAE was built with recognition_net=False (a pure GSNN), so "
                "q(z|x,y) does not exist; build it with recognition_net=True"
            )
        h_y = self.future_encoder(y)
        raw = (
            self.recognition_net(h_c, h_y)
            if units is None
            else self.recognition_net(torch.where(units, h_y, h_c))
        )
        return apply_head(self.posterior_head, raw, "recognition network", x=x, y=y)

    def _generate(
        self, h_c: Tensor, x: Tensor, z: Tensor, units: Tensor | None, targets: Tensor | None
    ) -> Distribution:
        if z.dim() < 2 or z.shape[-1] != self.latent_dim or z.shape[-2] != x.shape[0]:
            raise ValueError(
                f"SequenceCVAE expects z of shape (..., B={x.shape[0]}, latent_dim="
                f"{self.latent_dim}) for {x.shape[0]} histories x, got {tuple(z.shape)}; draw z "
                "from prior(x) or recognize(x, y)"
            )
        if units is None:
            context = self.latent_map(h_c, z)
        else:
            context = torch.where(units, h_c, self.latent_map(z))
        return self._decode(x, context, targets)

    def _x(self, x: object, where: str) -> Tensor:
        return check_sequence(x, self.x_shape, "x", f"SequenceCVAE.{where}", self)

    def prior(self, x: Tensor) -> Distribution:
        """p(z|x) for ``x`` ``(B, T_obs, D)``: batch ``(B,)``, event ``(latent_dim,)``."""
        x = self._x(x, "prior")
        if self.prior_kind == "standard":
            return self.prior_net().expand((x.shape[0],))
        return self._prior(self.condition_encoder(x), x)

    def recognize(self, x: Tensor, y: Tensor) -> Distribution:
        """q(z|x,y) (with fresh Mix-and-Match units): batch ``(B,)``, event ``(latent_dim,)``."""
        x = self._x(x, "recognize")
        y = check_sequence(y, self.y_shape, "y", "SequenceCVAE.recognize", self)
        check_pair(x, y, "SequenceCVAE")
        return self._recognize(self.condition_encoder(x), x, y, self._units(x.shape[:1]))

    def generate(self, x: Tensor, z: Tensor) -> Distribution:
        """p(y|x,z) for ``z`` ``(..., B, latent_dim)``: batch ``(..., B)``, event ``(T_pred, D)``.

        Mix-and-Match draws fresh units for every latent sample and example.
        """
        x = self._x(x, "generate")
        z = check_finite(check_tensor(z, "z", "SequenceCVAE.generate", self), "z")
        return self._generate(self.condition_encoder(x), x, z, self._units(z.shape[:-1]), None)

    # -- training pass ----------------------------------------------------------------------------
    def _passes(
        self, x: Tensor, y: Tensor, latents: tuple[str, ...], num_samples: int
    ) -> list[CVAEOutput]:
        x = self._x(x, "forward")
        y = check_sequence(y, self.y_shape, "y", "SequenceCVAE.forward", self)
        check_pair(x, y, "SequenceCVAE")
        num_samples = check_count(num_samples, "num_samples", "SequenceCVAE.forward", minimum=1)
        h_c = self.condition_encoder(x)
        units = self._units(x.shape[:1])  # one subset per example, shared by q and p(y|x,z)
        p_z = self._prior(h_c, x)
        outs = []
        for latent in latents:
            q_z = self._recognize(h_c, x, y, units) if latent == "posterior" else None
            z = (q_z if q_z is not None else p_z).rsample((num_samples,))
            p_y = self._generate(h_c, x, z, units, self._targets(y))
            outs.append(CVAEOutput(p_z=p_z, q_z=q_z, z=z, p_y=p_y))
        if self.training:
            self.rate_step += 1
        return outs

    # -- inference ---------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, x: Tensor, num_samples: int, *, mean: bool = True) -> Tensor:
        """``(S, B, T_pred, D)`` futures: z ~ p(z|x), then the mean of (or a draw from) p(y|x,z)."""
        x = self._x(x, "sample")
        num_samples = check_count(num_samples, "num_samples", "SequenceCVAE.sample")
        p_y = self.generate(x, self.prior(x).sample((num_samples,)))
        return p_y.mean if mean else p_y.sample()


@MODELS.register("sequence-baseline")
class SequenceBaseline(Forecaster):
    """The deterministic recurrent forecaster: the same GRU encoder and decoder, no latent.

    ``p(y|x)`` is one Gaussian (or Laplace) around a single predicted future, so it has one mode:
    the baseline that a diverse forecaster is compared against.

    Args:
        x_shape: ``(T_obs, D)`` observed frames.
        y_shape: ``(T_pred, D)`` future frames.
        hidden_size: Width of the GRUs.
        num_layers: Stacked GRU layers.
        likelihood: ``gaussian`` or ``laplace``.
        likelihood_scale: ``fixed``, ``shared`` or ``per_dim`` observation scale.
        likelihood_init_scale: Initial (or fixed) scale, in data units.
        teacher_forcing: Probability of feeding the true previous frame in training.
        residual: Predict each frame as a displacement from the previous one.
        step_scale: Typical change between frames (data units); when given, the encoders also
            read the changes divided by it (see :class:`~plausible.nn.SequenceEncoder`). The
            forecasting tasks pass the RMS change of their training histories.
        decoder_steps: With ``step_scale``, the decoder also reads each frame's change and
            predicts the next one in units of ``step_scale`` (see
            :class:`~plausible.nn.SequenceDecoder`); off by default so that runs saved before
            it existed load unchanged.
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (10, 2),
        y_shape: Sequence[int] = (10, 2),
        *,
        hidden_size: int = 64,
        num_layers: int = 1,
        likelihood: SequenceLikelihood = "gaussian",
        likelihood_scale: ScaleMode = "shared",
        likelihood_init_scale: float = 1.0,
        teacher_forcing: float = 0.0,
        residual: bool = True,
        step_scale: float | None = None,
        decoder_steps: bool = False,
    ) -> None:
        super().__init__()
        h = check_count(hidden_size, "hidden_size", "SequenceBaseline", minimum=1)
        self._setup(
            x_shape,
            y_shape,
            h,
            h,
            num_layers,
            likelihood,
            likelihood_scale,
            likelihood_init_scale,
            teacher_forcing,
            residual,
            step_scale,
            decoder_steps,
        )

    def _predict(self, x: object, where: str, y: Tensor | None = None) -> Distribution:
        x = check_sequence(x, self.x_shape, "x", f"SequenceBaseline.{where}", self)
        targets = None
        if y is not None:
            y = check_sequence(y, self.y_shape, "y", f"SequenceBaseline.{where}", self)
            check_pair(x, y, "SequenceBaseline")
            targets = self._targets(y)
        return self._decode(x, self.condition_encoder(x), targets)

    def predictive(self, x: Tensor) -> Distribution:
        """p(y|x) for ``x`` ``(B, T_obs, D)``: batch ``(B,)``, event ``(T_pred, D)``."""
        return self._predict(x, "predictive")

    def forward(self, x: Tensor, y: Tensor | None = None) -> BaselineOutput:
        """p(y|x); with ``y`` in training and teacher forcing on, its frames feed the decoder."""
        return BaselineOutput(p_y=self._predict(x, "forward", y))

    @torch.no_grad()
    def sample(self, x: Tensor, num_samples: int, *, mean: bool = True) -> Tensor:
        """``(S, B, T_pred, D)``: the prediction repeated (``mean``) or draws from p(y|x)."""
        p_y = self._predict(x, "sample")
        num_samples = check_count(num_samples, "num_samples", "SequenceBaseline.sample")
        if mean:
            return p_y.mean.expand(num_samples, *p_y.mean.shape).clone()
        return p_y.sample((num_samples,))
