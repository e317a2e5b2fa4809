"""Diverse sequence forecasting: from an observed past, predict many plausible futures.

Batches are ``{"x": (B, T_obs, D), "y": (B, T_pred, D)}``. Three data sets:

- ``branching-trajectories``: 2-D paths that share a history and then take one of several
  headings with known probabilities (:mod:`plausible.data.branching`);
- ``stick-figure``: a planar skeleton whose observed prefix is shared by several continuations
  (wave, reach, crouch) with known probabilities (:mod:`plausible.data.stick_figure`);
- ``cmu-motion``: the real CMU motion-capture sequence that ``python -m plausible.data.fetch
  cmu-motion`` puts in the download cache, cut into windows and split by time.

The two generated sets know the exact law of the future given the past (``info["law"]``), so
the ``forecast`` metric reports mode coverage and APD against the law's own, and the ground-truth
sampler (:class:`~plausible.data.sequences.LawSampler`) is scored by the same code.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from plausible.data.acclaim import read_motion
from plausible.data.branching import make_branching
from plausible.data.sequences import FutureLaw, sliding_windows
from plausible.data.sources import search_dirs
from plausible.data.stick_figure import BONES, make_stick_figure
from plausible.metrics.forecasting import model_device
from plausible.models.protocols import ConditionalModel
from plausible.registry import TASKS
from plausible.tasks.base import Task, TaskData
from plausible.viz.sequences import channel_forecast_figure, forecast_figure, skeleton_filmstrip
from plausible.viz.training import training_curves

__all__ = [
    "BranchingTrajectories",
    "GeneratedForecasting",
    "MotionCapture",
    "SequenceForecasting",
    "StickFigure",
]

log = logging.getLogger(__name__)

#: Examples drawn in the forecast figures.
_SHOWN = 6
#: Futures drawn per example in the figures (the metrics use their own K).
_FIGURE_SAMPLES = 20


def _split(parts: Mapping[str, Tensor]) -> dict[str, Tensor]:
    return {k: v for k, v in parts.items() if k in ("x", "y", "mode", "context")}


class SequenceForecasting(Task):
    """What the forecasting tasks share: shapes, metrics and figures.

    Subclasses build the splits in :meth:`load` and put the data's facts in ``info``:
    ``law`` (a :class:`~plausible.data.sequences.FutureLaw`, when known), ``mode_names``,
    ``bones`` (index pairs of a skeleton whose D = 2J values are joint positions).
    """

    default_objective = "cvae"
    metrics = ("forecast", "sequence-quality", "forecast-collapse", "nll")
    #: Last observed poses closer than this (L2, data units) share their futures in MMADE/MMFDE.
    multimodal_threshold: ClassVar[float] = 0.5

    def model_kwargs(self, data: TaskData) -> dict[str, Any]:
        x, y = data.train["x"], data.train["y"]
        steps = x[:, 1:] - x[:, :-1]
        # The RMS change per value; a history of one frame (no change) keeps a scale of 1.
        rms = float(steps.double().pow(2).mean().sqrt()) if steps.numel() else 0.0
        return {
            "x_shape": list(x.shape[1:]),
            "y_shape": list(y.shape[1:]),
            "step_scale": round(rms, 6) if rms > 1e-8 else 1.0,
        }

    def evaluation_defaults(self) -> dict[str, Any]:
        return {"forecast": {"multimodal_threshold": self.multimodal_threshold}}

    def figures(
        self,
        model: nn.Module,
        data: TaskData,
        figures_dir: Path,
        *,
        records: list[dict[str, Any]],
        baselines: Mapping[str, nn.Module | None] | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> dict[str, Path]:
        out: dict[str, Path] = {}
        if records:
            out["Training curves"] = training_curves(records, figures_dir / "training_curves.png")
        if isinstance(model, ConditionalModel):
            out.update(forecast_figures(model, data, figures_dir, name="futures"))
        return out


def forecast_figures(
    model: ConditionalModel, data: TaskData, figures_dir: Path, *, name: str, seed: int = 0
) -> dict[str, Path]:
    """The futures of the first test histories drawn by ``model`` (and coloured by true mode).

    Returns ``{caption: path}``: trajectories for 2-D data, a filmstrip for a skeleton, channel
    curves otherwise.
    """
    x, y = data.test["x"][:_SHOWN], data.test["y"][:_SHOWN]
    device = model_device(model)  # type: ignore[arg-type]
    with torch.no_grad(), torch.random.fork_rng():
        torch.manual_seed(seed)
        futures = model.sample(x.to(device), _FIGURE_SAMPLES, mean=False).cpu()
    law: FutureLaw | None = data.info.get("law")
    bones = data.info.get("bones")
    path = figures_dir / f"{name}.png"
    if bones is not None:
        caption = "Futures of one observed prefix (filmstrip)"
        skeleton_filmstrip(x[0], futures[:6, 0], list(bones), path=path, title=caption, labels=None)
        return {caption: path}
    if x.shape[-1] == 2:
        modes = law.assign_modes(x, futures) if law is not None else None
        caption = f"{_FIGURE_SAMPLES} sampled futures per history, coloured by nearest true mode"
        forecast_figure(
            x,
            futures,
            y,
            modes=modes,
            mode_means=law.mode_means(x) if law is not None else None,
            mode_names=data.info.get("mode_names"),
            path=path,
            title=caption,
        )
        return {caption: path}
    caption = "Sampled futures of the first channels"
    channel_forecast_figure(x[0], futures[:, 0], y[0], path=path, title=caption)
    return {caption: path}


class GeneratedForecasting(SequenceForecasting):
    """A forecasting set drawn from a seed by a generator that knows its law.

    Args:
        num_train: Training examples.
        num_val: Validation examples.
        num_test: Test examples.
        seed: Seed of the training split; validation and test use ``seed + 1`` and ``seed + 2``.
        **generator: Passed to the generator (``t_obs``, ``t_pred``, ``noise``, ``probs``...).
    """

    def __init__(
        self,
        num_train: int = 5000,
        num_val: int = 500,
        num_test: int = 1000,
        *,
        seed: int = 0,
        **generator: Any,
    ) -> None:
        self.sizes = _check_sizes(num_train, num_val, num_test)
        self.seed = int(seed)
        self.generator = generator

    def draw(self, num_examples: int, seed: int) -> dict[str, Any]:
        """One split: ``{"x", "y", "mode", "context", "law"}``."""
        raise NotImplementedError

    def extra_info(self) -> dict[str, Any]:
        """Facts of the data set beyond its law (e.g. a skeleton's bones)."""
        return {}

    def load(self) -> TaskData:
        splits = [self.draw(n, self.seed + i) for i, n in enumerate(self.sizes)]
        law = splits[0]["law"]
        return TaskData(
            train=_split(splits[0]),
            val=_split(splits[1]),
            test=_split(splits[2]),
            info={"law": law, "mode_names": list(law.mode_names), **self.extra_info()},
        )


@TASKS.register("branching-trajectories")
class BranchingTrajectories(GeneratedForecasting):
    """2-D paths with a shared history and one of several headings (exact law known).

    Arguments as :class:`GeneratedForecasting`; ``**generator`` goes to
    :func:`~plausible.data.branching.make_branching`.
    """

    multimodal_threshold = 0.05

    def draw(self, num_examples: int, seed: int) -> dict[str, Any]:
        return make_branching(num_examples, seed=seed, **self.generator)


@TASKS.register("stick-figure")
class StickFigure(GeneratedForecasting):
    """A planar skeleton whose observed prefix has several continuations (exact law known).

    Arguments as :class:`GeneratedForecasting`; ``**generator`` goes to
    :func:`~plausible.data.stick_figure.make_stick_figure`.
    """

    def draw(self, num_examples: int, seed: int) -> dict[str, Any]:
        return make_stick_figure(num_examples, seed=seed, **self.generator)

    def extra_info(self) -> dict[str, Any]:
        return {"bones": list(BONES)}


@TASKS.register("cmu-motion")
class MotionCapture(SequenceForecasting):
    """The CMU motion-capture sequence (ASF/AMC), standardised, windowed and split by time.

    The first ``train_fraction`` of the frames train, the next ``val_fraction`` validate, the
    rest test, so no window of the test split overlaps a training frame. Channels are
    standardised with the training frames' mean and standard deviation (constant channels keep
    a scale of 1).

    Args:
        data_dir: Folder holding one ``.asf`` and one ``.amc`` file (default: the download cache
            ``cmu-motion``, filled by ``python -m plausible.data.fetch cmu-motion``).
        t_obs: Observed frames per window (after subsampling).
        t_pred: Predicted frames per window.
        subsample: Keep every ``subsample``-th frame (CMU records at 120 frames per second).
        stride: Frames between the starts of consecutive windows.
        train_fraction: Share of the frames (in time order) for training.
        val_fraction: Share for validation; the rest is the test split.
    """

    multimodal_threshold = 1.0

    def __init__(
        self,
        *,
        data_dir: str | None = None,
        t_obs: int = 15,
        t_pred: int = 30,
        subsample: int = 4,
        stride: int = 1,
        train_fraction: float = 0.7,
        val_fraction: float = 0.15,
    ) -> None:
        if not (train_fraction > 0 and val_fraction > 0 and train_fraction + val_fraction < 1):
            raise ValueError(
                "task.train_fraction and task.val_fraction must be positive and sum to less "
                f"than 1, got {train_fraction} and {val_fraction}"
            )
        if subsample < 1 or stride < 1:
            raise ValueError(
                f"task.subsample and task.stride must be >= 1, got {subsample} and {stride}"
            )
        self.data_dir = data_dir
        self.t_obs, self.t_pred = int(t_obs), int(t_pred)
        self.subsample, self.stride = int(subsample), int(stride)
        self.fractions = (float(train_fraction), float(val_fraction))

    def frames(self) -> tuple[Tensor, Path]:
        """All frames ``(N, 62)`` of the sequence, subsampled, and the AMC file they came from."""
        folders = search_dirs("cmu-motion", self.data_dir)
        for folder in folders:
            asf, amc = sorted(folder.glob("*.asf")), sorted(folder.glob("*.amc"))
            if asf and amc:
                return read_motion(asf[0], amc[0])[:: self.subsample], amc[0]
        raise FileNotFoundError(
            "no .asf/.amc pair found in "
            + ", ".join(str(f) for f in folders)
            + "; run `python -m plausible.data.fetch cmu-motion` (or name a folder with "
            "task.data_dir / --data-dir)"
        )

    def load(self) -> TaskData:
        frames, source = self.frames()
        n = len(frames)
        cut1 = int(n * self.fractions[0])
        cut2 = int(n * (self.fractions[0] + self.fractions[1]))
        train = frames[:cut1]
        mean, std = train.mean(0), train.std(0)
        std = torch.where(std > 1e-6, std, torch.ones_like(std))
        splits = {}
        for name, part in (("train", train), ("val", frames[cut1:cut2]), ("test", frames[cut2:])):
            try:
                x, y = sliding_windows((part - mean) / std, self.t_obs, self.t_pred, self.stride)
            except ValueError as why:
                raise ValueError(
                    f"{source}: the {name} split has {len(part)} frames after subsampling by "
                    f"{self.subsample}: {why}"
                ) from None
            splits[name] = {"x": x, "y": y}
        log.info(
            "cmu-motion: %d frames from %s; %d / %d / %d windows",
            n,
            source,
            *(len(splits[k]["x"]) for k in ("train", "val", "test")),
        )
        return TaskData(
            train=splits["train"],
            val=splits["val"],
            test=splits["test"],
            info={"source": str(source), "channel_mean": mean, "channel_std": std},
        )


def _check_sizes(num_train: int, num_val: int, num_test: int) -> tuple[int, int, int]:
    sizes = (int(num_train), int(num_val), int(num_test))
    if min(sizes) < 1:
        raise ValueError(
            f"task sizes must be >= 1, got num_train={num_train}, num_val={num_val}, "
            f"num_test={num_test}"
        )
    return sizes
