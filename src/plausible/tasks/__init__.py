"""Tasks: data plus the evaluation and figures that suit it; importing registers them."""

from plausible.tasks.base import Task, TaskData
from plausible.tasks.dsprites import DSpritesTask
from plausible.tasks.images import ImageModelling
from plausible.tasks.mdn_toys import ForwardSine, InverseSine, PoseLifting, RobotArm

__all__ = [
    "DSpritesTask",
    "ForwardSine",
    "ImageModelling",
    "InverseSine",
    "PoseLifting",
    "RobotArm",
    "Task",
    "TaskData",
]
