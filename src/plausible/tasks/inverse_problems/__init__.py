"""Inverse problems for mixture density networks: Bishop's sine, a two-link arm, pose lifting.

Importing registers the tasks (``inverse-sine``, ``forward-sine``, ``robot-arm``,
``pose-lifting``) and the suite metrics they name.
"""

from plausible.tasks.inverse_problems.base import InverseProblem
from plausible.tasks.inverse_problems.pose_lifting import PoseLifting
from plausible.tasks.inverse_problems.robot_arm import RobotArm
from plausible.tasks.inverse_problems.sine import ForwardSine, InverseSine

__all__ = ["ForwardSine", "InverseProblem", "InverseSine", "PoseLifting", "RobotArm"]
