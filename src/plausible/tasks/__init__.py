"""Tasks: data plus the evaluation and figures that suit it; importing registers them."""

from plausible.tasks.base import Task, TaskData
from plausible.tasks.images import ImageModelling

__all__ = ["ImageModelling", "Task", "TaskData"]
