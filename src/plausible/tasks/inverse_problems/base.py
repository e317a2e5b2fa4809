"""What the inverse problems share: suite metrics, answers, a least-squares companion run.

Every problem here is generated (seeded, no downloads) and knows the true solution set of each
test input. Its data carry an :class:`~plausible.metrics.inverse_problems.AnswerSpace` in
``info["answers"]``, which the suite metrics it names read; the task itself scores nothing.

The least-squares network of the same size is a *companion run*: :meth:`InverseProblem.baselines`
returns its recipe, the runner trains it into ``<run>/baseline/<name>`` and hands the trained
model back to :meth:`InverseProblem.figures` (and scores it with the same metrics).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import Tensor, nn

from plausible.metrics.inverse_problems import AnswerSpace
from plausible.models.mdn import GaussianRegression
from plausible.models.protocols import ConditionalDensityModel
from plausible.registry import MODELS
from plausible.tasks.base import Task, TaskData
from plausible.viz.training import training_curves

__all__ = [
    "LEAST_SQUARES",
    "InverseProblem",
    "device_of",
    "least_squares_recipe",
    "mean_prediction",
]

log = logging.getLogger(__name__)

#: Name of the least-squares companion run (its folder is ``<run>/baseline/least_squares``).
LEAST_SQUARES = "least_squares"


def least_squares_recipe(
    config: Mapping[str, Any],
    defaults: Mapping[str, Any],
    *,
    task: Mapping[str, Any] | None = None,
    training: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The recipe of a least-squares network of the same size as the model of ``config``.

    A :class:`~plausible.models.mdn.GaussianRegression` (homoscedastic unless the baseline
    table says otherwise) with the model's ``hidden_dims`` and ``activation``, trained with the
    ``gaussian_nll`` objective on the same task.

    Args:
        config: The run's recipe; ``[evaluation.baseline]`` holds trainer settings plus
            optional ``hidden_dims``, ``activation`` and ``scale``.
        defaults: Trainer settings used where the baseline table gives none.
        task: The companion's ``[task]`` table; the run's by default.
        training: Trainer settings that override everything else.
    """
    table = config.get("evaluation", {}).get("baseline", {})
    settings = {**defaults, **(table if isinstance(table, Mapping) else {})}
    model: dict[str, Any] = {"name": "regression", "scale": settings.pop("scale", "homoscedastic")}
    for key in ("hidden_dims", "activation"):
        value = settings.pop(key, config["model"].get(key))
        if value is not None:
            model[key] = list(value) if key == "hidden_dims" else value
    device = config.get("training", {}).get("device", "auto")
    return {
        "description": "least-squares network of the same size (companion run)",
        "task": dict(task if task is not None else config["task"]),
        "model": model,
        "objective": {"name": "gaussian_nll"},
        # A companion has no companions of its own.
        "evaluation": {"baseline": False},
        "training": {
            "progress": False,
            "tensorboard": "off",
            "device": device,
            **settings,
            **(training or {}),
        },
    }


def device_of(model: object) -> torch.device:
    """Where ``model``'s parameters live (the CPU for a model without any)."""
    if isinstance(model, nn.Module):
        return next(model.parameters(), torch.empty(0)).device
    return torch.device("cpu")


def mean_prediction(model: object, x: Tensor) -> Tensor:
    """The mean of ``p(y|x)`` on the CPU, ``(B, D)``, for inputs ``x`` ``(B, x_dim)``."""
    if not isinstance(model, ConditionalDensityModel):
        raise TypeError(f"{type(model).__name__} is not a ConditionalDensityModel: no p(y|x)")
    device = device_of(model)
    with torch.no_grad():
        return model.predictive(x.to(device)).mean.cpu()


class InverseProblem(Task):
    """Base of the inverse problems: metrics, answer space, least-squares companion run.

    Subclasses build the splits in :meth:`generate` (``x``, ``y`` and, in the test split, the
    true ``solutions`` ``(N, M, D)`` with ``solutions_valid`` ``(N, M)``), say when a prediction
    answers its input (:meth:`answer_residual`) and draw their figures.
    """

    default_objective = "mdn_nll"
    metrics = (
        "nll",
        "answer-errors",
        "branch-coverage",
        "valid-answers",
        "pit-calibration",
        "mixture-weights",
        "mixture-modes",
    )
    #: Distance within which a hypothesis counts as finding a true solution (target units).
    default_tolerance: float = 0.1
    #: ``None``: Euclidean error over the target; ``3``: mean per-joint error (MPJPE).
    joint_dim: int | None = None
    #: Errors are multiplied by this for reporting, in ``error_unit``.
    error_scale: float = 1.0
    error_unit: str = "target units"
    #: Find the mixture's true modes (fixed-point iteration) for targets up to this dimension.
    max_mode_dim: int = 2
    #: Modes less dense than this fraction of the densest one are not reported.
    min_mode_density_ratio: float = 0.01
    #: Also report branch coverage over the test inputs with exactly two solutions.
    two_solution_coverage: bool = False
    #: A point prediction is a valid answer when :meth:`answer_residual` is at most this.
    answer_tolerance: float = 0.02
    #: Trainer settings of the least-squares baseline; ``[evaluation.baseline]`` overrides them.
    baseline_defaults: ClassVar[dict[str, Any]] = {"epochs": 300, "batch_size": 100, "lr": 5e-3}
    #: Baselines scored with the same metrics next to the model (others serve figures only).
    compared_baselines: ClassVar[tuple[str, ...]] = (LEAST_SQUARES,)

    def _set_sizes(
        self, num_train: int, num_val: int, num_test: int, noise: float, seed: int
    ) -> None:
        """Store the split sizes, noise and seed every problem takes, refusing empty splits."""
        if min(num_train, num_val, num_test) < 1:
            raise ValueError(
                f"task sizes must be >= 1, got num_train={num_train}, num_val={num_val}, "
                f"num_test={num_test}"
            )
        self.num_train, self.num_val, self.num_test = num_train, num_val, num_test
        self.noise = float(noise)
        self.seed = int(seed)

    def generate(self) -> TaskData:
        """Build the seeded splits (without ``info["answers"]``, which :meth:`load` adds)."""
        raise NotImplementedError

    def load(self) -> TaskData:
        data = self.generate()
        data.info["answers"] = self.answer_space()
        return data

    def model_kwargs(self, data: TaskData) -> dict[str, Any]:
        return {"x_dim": int(data.info["x_dim"]), "y_dim": int(data.info["y_dim"])}

    def answer_space(self) -> AnswerSpace:
        """What the suite metrics need to know about this problem's answers."""
        return AnswerSpace(
            residual=self.answer_residual,
            to_answer=self.to_answer,
            tolerance=self.default_tolerance,
            answer_tolerance=self.answer_tolerance,
            joint_dim=self.joint_dim,
            error_scale=self.error_scale,
            error_unit=self.error_unit,
            two_solution_coverage=self.two_solution_coverage,
            max_mode_dim=self.max_mode_dim,
            min_mode_density_ratio=self.min_mode_density_ratio,
        )

    def to_answer(self, x: Tensor, prediction: Tensor) -> Tensor:
        """Turn predictions ``(..., B, D)`` for inputs ``x`` ``(B, x_dim)`` into answers.

        Answers live where the test split's ``truth`` and ``solutions`` do; this is the identity
        unless a task says otherwise.
        """
        return prediction

    def answer_residual(self, x: Tensor, prediction: Tensor) -> Tensor:
        """How far each prediction ``(..., B, D)`` is from answering its input ``x`` ``(B, x_dim)``.

        Zero when the prediction could have produced the input under the task's forward model
        (e.g. the arm's end effector reaches the target); a prediction is a valid answer when this
        is at most ``answer_tolerance``.
        """
        raise NotImplementedError

    # -- companion runs ---------------------------------------------------------------------------
    def baselines(self, config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
        """The companion runs to train next to the run of ``config``: name -> recipe.

        The least-squares network of the same size, unless ``[evaluation] baseline = false`` or
        the run's model is itself such a network.
        """
        if config.get("evaluation", {}).get("baseline", {}) is False:
            return {}
        if MODELS.get(config["model"]["name"]) is GaussianRegression:
            return {}
        return {LEAST_SQUARES: least_squares_recipe(config, self.baseline_defaults)}

    @staticmethod
    def companion(
        baselines: Mapping[str, nn.Module | None] | None, name: str = LEAST_SQUARES
    ) -> nn.Module | None:
        """The trained companion ``name`` if it was handed over; logs when it is missing."""
        model = (baselines or {}).get(name)
        if model is None:
            log.info("no %s companion run was given: figures are drawn without it", name)
        return model

    # -- figures ----------------------------------------------------------------------------------
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
        """The problem's figures, then the training curves.

        Args:
            model: The trained model (a :class:`ConditionalDensityModel`).
            data: The task's splits.
            figures_dir: Where to write the PNGs.
            records: The run's metrics.jsonl rows.
            baselines: Trained companion runs by name (:meth:`baselines`); a missing one is
                left out of the figures.
            settings: The ``[evaluation]`` table (``tolerance`` of the coverage map).
        """
        figures_dir.mkdir(parents=True, exist_ok=True)
        out: dict[str, Path] = {}
        if isinstance(model, ConditionalDensityModel):
            model.eval()
            out.update(self.problem_figures(model, data, figures_dir, baselines, settings or {}))
        else:
            log.warning("%s is not a ConditionalDensityModel: no figures of p(y|x)", type(model))
        if records:
            try:
                out["training curves"] = training_curves(
                    records, figures_dir / "training_curves.png"
                )
            except ValueError as err:  # no numeric metrics to draw
                log.warning("no training curves: %s", err)
        return out

    def problem_figures(
        self,
        model: ConditionalDensityModel,
        data: TaskData,
        figures_dir: Path,
        baselines: Mapping[str, nn.Module | None] | None,
        settings: Mapping[str, Any],
    ) -> dict[str, Path]:
        """The figures of this problem (see :meth:`figures`)."""
        return {}
