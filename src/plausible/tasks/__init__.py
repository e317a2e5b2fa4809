"""Tasks: data plus the evaluation and figures that suit it; importing registers them."""

from plausible.tasks.base import Task, TaskData
from plausible.tasks.conditional import ClassConditional, QuadrantImputation
from plausible.tasks.dsprites import DSpritesTask
from plausible.tasks.images import ImageModelling
from plausible.tasks.mdn_toys import ForwardSine, InverseSine, PoseLifting, RobotArm

__all__ = [
    "ClassConditional",
    "DSpritesTask",
    "ForwardSine",
    "ImageModelling",
    "InverseSine",
    "PoseLifting",
    "QuadrantImputation",
    "RobotArm",
    "Task",
    "TaskData",
]
