"""Tasks: data splits and the names of the suite metrics and figures that suit them."""

from plausible.tasks.base import Task, TaskData
from plausible.tasks.conditional import ClassConditional, QuadrantImputation
from plausible.tasks.dense import (
    AnnotatedShapes,
    DensePrediction,
    DepthSaliency,
    PartialSilhouettes,
)
from plausible.tasks.dsprites import DSpritesTask
from plausible.tasks.forecasting import (
    BranchingTrajectories,
    MotionCapture,
    SequenceForecasting,
    StickFigure,
)
from plausible.tasks.images import ImageModelling
from plausible.tasks.inverse_problems import ForwardSine, InverseSine, PoseLifting, RobotArm

__all__ = [
    "AnnotatedShapes",
    "BranchingTrajectories",
    "ClassConditional",
    "DSpritesTask",
    "DensePrediction",
    "DepthSaliency",
    "ForwardSine",
    "ImageModelling",
    "InverseSine",
    "MotionCapture",
    "PartialSilhouettes",
    "PoseLifting",
    "QuadrantImputation",
    "RobotArm",
    "SequenceForecasting",
    "StickFigure",
    "Task",
    "TaskData",
]
