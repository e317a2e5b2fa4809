"""A planar stick figure whose idle prefix goes on as a wave, a reach or a crouch, with known odds.

The figure (11 joints, seen from the side, facing +x) stands and sways for ``t_obs`` frames; then,
over ``t_pred`` frames, it moves from its last observed pose towards the target pose of one mode:

- ``wave``: the right arm rises forward and up and the forearm swings back and forth;
- ``reach``: the trunk leans a little and the right arm straightens forward at shoulder height;
- ``crouch``: the knees bend, the trunk leans and the pelvis drops and moves back, the right foot
  staying where it stood.

The left arm is held at one of ``C`` angles to the trunk throughout (the *context*): it sets the
mode probabilities (the base probabilities rolled by the context's index). Each figure also has
its own size (``scale``), horizontal place and sway phase. The history is noise-free, so its last
frame gives everything the future depends on: the pose (joint angles), the scale (the trunk's
length), the place (the right foot) and the context (the left arm). :class:`StickFigureLaw`
recovers them and gives the exact mode probabilities, the noise-free path of each mode, draws and
density; the future carries i.i.d. ``N(0, noise^2)`` on every coordinate of every joint.

Frames hold ``D = 2 J`` values ``x_0, y_0, x_1, y_1, ...`` (J = 11 joints), in the units of the
bone lengths (about metres for ``scale = 1``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from plausible.data.sequences import GaussianModesLaw

__all__ = [
    "BONES",
    "BONE_LENGTHS",
    "JOINT_NAMES",
    "PARENTS",
    "StickFigureLaw",
    "forward_kinematics",
    "inverse_kinematics",
    "make_stick_figure",
]

JOINT_NAMES = (
    "pelvis",
    "neck",
    "head",
    "right elbow",
    "right hand",
    "left elbow",
    "left hand",
    "right knee",
    "right foot",
    "left knee",
    "left foot",
)
#: Parent of each joint (-1: the root, the pelvis). Parents come before their children.
PARENTS = (-1, 0, 1, 1, 3, 1, 5, 0, 7, 0, 9)
#: Bone ``k`` runs from joint ``PARENTS[k + 1]`` to joint ``k + 1``.
BONES: tuple[tuple[int, int], ...] = tuple((PARENTS[j], j) for j in range(1, len(PARENTS)))
#: Length of each bone at scale 1: trunk, head, upper arm, forearm (x2), thigh, shin (x2).
BONE_LENGTHS = (0.5, 0.2, 0.3, 0.28, 0.3, 0.28, 0.45, 0.45, 0.45, 0.45)
#: One angle per bone (A = J - 1).
NUM_ANGLES = len(BONES)
MODE_NAMES = ("wave", "reach", "crouch")
PROBS = (0.6, 0.3, 0.1)
#: Left upper arm's angle to the trunk in each context, radians from hanging straight down
#: (positive: forward).
CONTEXT_ARMS = (0.0, 0.7, -0.7)

_SPINE, _HEAD, _R_UPPER, _R_FORE, _L_UPPER, _L_FORE, _R_THIGH, _R_SHIN, _L_THIGH, _L_SHIN = range(
    NUM_ANGLES
)
_RIGHT_FOOT = 8
_NAN = math.nan
_UP = math.pi / 2


def _parent_bone(bone: int) -> int:
    """Index of the bone ending at bone ``bone``'s start joint; -1 when it starts at the root."""
    return PARENTS[bone + 1] - 1


def _targets() -> Tensor:
    """``(M, A)`` target relative angles of each mode; NaN keeps the last observed angle.

    Written as absolute directions (radians from +x, counter-clockwise) minus the parent's.
    """
    wave_trunk, reach_trunk, crouch_trunk = _UP, _UP - 0.25, _UP - 0.35
    thigh = -_UP + 1.1  # crouch: thighs forward
    rows = {
        "wave": {
            _SPINE: wave_trunk,
            _HEAD: 0.0,
            _R_UPPER: (_UP - 0.45) - wave_trunk,  # forward and up
            _R_FORE: 0.9,
        },
        "reach": {
            _SPINE: reach_trunk,
            _HEAD: _UP - reach_trunk,
            _R_UPPER: 0.05 - reach_trunk,  # forward at shoulder height
            _R_FORE: 0.0,
        },
        "crouch": {
            _SPINE: crouch_trunk,
            _HEAD: _UP - crouch_trunk,
            _R_UPPER: -0.5 - crouch_trunk,
            _R_FORE: 0.3,
            _R_THIGH: thigh,
            _R_SHIN: -1.8,
            _L_THIGH: thigh,
            _L_SHIN: -1.8,
        },
    }
    out = torch.full((len(MODE_NAMES), NUM_ANGLES), _NAN, dtype=torch.float64)
    for m, name in enumerate(MODE_NAMES):
        for bone, angle in rows[name].items():
            out[m, bone] = angle
    return out


def _wrap(angle: Tensor) -> Tensor:
    """Angles mapped into ``[-pi, pi)``."""
    return torch.remainder(angle + math.pi, 2 * math.pi) - math.pi


def forward_kinematics(
    angles: Tensor,
    root: Tensor | None = None,
    scale: Tensor | float = 1.0,
    *,
    lengths: Sequence[float] = BONE_LENGTHS,
) -> Tensor:
    """Joint positions of poses given by relative bone angles.

    Bone ``k`` points at the absolute angle (radians from +x, counter-clockwise) that is the sum
    of ``angles`` along the chain from the root: its own angle plus its parent bone's absolute
    angle; a bone leaving the root (trunk, thighs) takes its own angle as absolute.

    Args:
        angles: ``(..., A)`` relative angle of each bone, radians (A = 10 for :data:`BONES`).
        root: ``(..., 2)`` position of the pelvis (default: the origin).
        scale: ``(...)`` or a number: factor on every bone length.
        lengths: Bone lengths at scale 1.

    Returns:
        ``(..., 2 J)`` positions ``x_0, y_0, x_1, y_1, ...`` in the dtype of ``angles``.
    """
    if angles.shape[-1] != len(lengths) or len(lengths) != NUM_ANGLES:
        raise ValueError(
            f"angles must be (..., {NUM_ANGLES}), one per bone, with {NUM_ANGLES} lengths; got "
            f"angles {tuple(angles.shape)} and {len(lengths)} lengths"
        )
    batch = angles.shape[:-1]
    s = torch.as_tensor(scale, dtype=angles.dtype, device=angles.device).expand(batch)
    start = (
        torch.zeros((*batch, 2), dtype=angles.dtype, device=angles.device)
        if root is None
        else root.to(angles.dtype).expand(*batch, 2)
    )
    joints = [start]
    absolute: list[Tensor] = []
    for k in range(NUM_ANGLES):
        parent = _parent_bone(k)
        direction = angles[..., k] + (absolute[parent] if parent >= 0 else 0.0)
        absolute.append(direction)
        step = (s * lengths[k])[..., None] * torch.stack(
            [torch.cos(direction), torch.sin(direction)], -1
        )
        joints.append(joints[PARENTS[k + 1]] + step)
    return torch.cat(joints, -1)


def inverse_kinematics(
    positions: Tensor, *, lengths: Sequence[float] = BONE_LENGTHS
) -> tuple[Tensor, Tensor, Tensor]:
    """The relative angles, root and scale of poses (the inverse of :func:`forward_kinematics`).

    Args:
        positions: ``(..., 2 J)`` joint positions.
        lengths: Bone lengths at scale 1.

    Returns:
        ``angles`` ``(..., A)`` in ``[-pi, pi)``, ``root`` ``(..., 2)`` and ``scale`` ``(...)``
        (the trunk's length over its length at scale 1).
    """
    if positions.shape[-1] != 2 * len(PARENTS):
        raise ValueError(
            f"positions must be (..., {2 * len(PARENTS)}), x and y of {len(PARENTS)} joints; got "
            f"{tuple(positions.shape)}"
        )
    joints = positions.unflatten(-1, (len(PARENTS), 2))
    parents, children = zip(*BONES, strict=True)
    vectors = joints[..., list(children), :] - joints[..., list(parents), :]  # (..., A, 2)
    absolute = torch.atan2(vectors[..., 1], vectors[..., 0])
    parent_absolute = [absolute[..., _parent_bone(k)] if _parent_bone(k) >= 0 else None
                       for k in range(NUM_ANGLES)]  # fmt: skip
    angles = torch.stack(
        [
            absolute[..., k] if p is None else _wrap(absolute[..., k] - p)
            for k, p in enumerate(parent_absolute)
        ],
        -1,
    )
    scale = vectors[..., _SPINE, :].norm(dim=-1) / lengths[_SPINE]
    return angles, joints[..., 0, :], scale


def _smoothstep(u: Tensor) -> Tensor:
    u = u.clamp(0.0, 1.0)
    return u * u * (3 - 2 * u)


class StickFigureLaw(GaussianModesLaw):
    """The exact law of the stick figure's future given its history.

    Args:
        t_pred: Future frames.
        probs: Base mode probabilities (wave, reach, crouch); context ``c`` uses them rolled
            by ``c`` places.
        context_arms: Left upper arm's angle to the trunk in each context, radians from
            hanging down (at least 0.2 apart).
        ramp_steps: Frames over which the pose moves (smoothly) to its mode's target pose.
        wave_period: Frames per swing of the waving forearm.
        wave_amplitude: Amplitude of that swing, radians.
        noise: Standard deviation of each future coordinate.
    """

    def __init__(
        self,
        t_pred: int = 20,
        *,
        probs: Sequence[float] = PROBS,
        context_arms: Sequence[float] = CONTEXT_ARMS,
        ramp_steps: int = 8,
        wave_period: float = 6.0,
        wave_amplitude: float = 0.5,
        noise: float = 0.02,
    ) -> None:
        p = torch.tensor([float(v) for v in probs], dtype=torch.float64)
        if len(p) != len(MODE_NAMES) or (p < 0).any() or abs(float(p.sum()) - 1.0) > 1e-9:
            raise ValueError(
                f"probs must be {len(MODE_NAMES)} non-negative numbers ({', '.join(MODE_NAMES)}) "
                f"summing to 1, got {list(probs)}"
            )
        arms = torch.tensor([float(a) for a in context_arms], dtype=torch.float64)
        gaps = (arms[:, None] - arms[None]).abs() + 10 * torch.eye(len(arms), dtype=torch.float64)
        if len(arms) < 1 or float(gaps.min()) < 0.2 or float(arms.abs().max()) > 1.5:
            raise ValueError(
                "context_arms must be angles in [-1.5, 1.5] radians, at least 0.2 apart, got "
                f"{list(context_arms)}"
            )
        if min(t_pred, ramp_steps) < 1 or wave_period <= 0:
            raise ValueError(
                f"t_pred and ramp_steps must be >= 1 and wave_period > 0, got {t_pred}, "
                f"{ramp_steps} and {wave_period}"
            )
        super().__init__((t_pred, 2 * len(PARENTS)), noise, MODE_NAMES)
        self.t_pred, self.ramp_steps = int(t_pred), int(ramp_steps)
        self.wave_period, self.wave_amplitude = float(wave_period), float(wave_amplitude)
        self.probs, self.context_arms = p, arms
        self.num_contexts = len(arms)

    def context_probs(self) -> Tensor:
        """``(C, M)``: the base probabilities rolled by each context's index."""
        return torch.stack([self.probs.roll(c) for c in range(self.num_contexts)])

    def _last_pose(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        if x.dim() != 3 or x.shape[-1] != 2 * len(PARENTS) or x.shape[1] < 1:
            raise ValueError(
                f"stick-figure histories are (B, T_obs >= 1, {2 * len(PARENTS)}), got "
                f"{tuple(x.shape)}"
            )
        return inverse_kinematics(x[:, -1].double())

    def context(self, x: Tensor) -> Tensor:
        """``(B,)`` context of each history: the nearest context angle of its left arm."""
        angles, _, _ = self._last_pose(x)
        arm = _wrap(angles[:, _L_UPPER] + math.pi)  # 0: hanging along the trunk, downwards
        return (arm[:, None] - self.context_arms).abs().argmin(-1)

    def mode_probs(self, x: Tensor) -> Tensor:
        """``(B, M)`` mode probabilities, set by each history's context."""
        return self.context_probs()[self.context(x)].to(x.device)

    def mode_means(self, x: Tensor) -> Tensor:
        """``(B, M, T_pred, 2 J)``: from the last pose, move smoothly to each mode's target pose.

        The right foot stays where the last frame put it: the pelvis follows from the legs.
        """
        angles, _, scale = self._last_pose(x)  # (B, A), (B,)
        foot = x[:, -1, 2 * _RIGHT_FOOT : 2 * _RIGHT_FOOT + 2].double()  # (B, 2)
        targets = _targets()  # (M, A)
        start = angles[:, None, None]  # (B, 1, 1, A)
        goal = torch.where(targets.isnan(), angles[:, None], targets)[:, :, None]  # (B, M, 1, A)
        t = torch.arange(1, self.t_pred + 1, dtype=torch.float64)
        u = _smoothstep(t / self.ramp_steps)[:, None]  # (T, 1)
        path = start + u * _wrap(goal - start)  # (B, M, T, A)
        swing = torch.zeros(len(MODE_NAMES), self.t_pred, NUM_ANGLES, dtype=torch.float64)
        swing[0, :, _R_FORE] = self.wave_amplitude * torch.sin(2 * math.pi * t / self.wave_period)
        path = path + u * swing
        s = scale[:, None, None]  # (B, 1, 1)
        pose = forward_kinematics(path, scale=s)  # pelvis at the origin
        pelvis = foot[:, None, None] - pose[..., 2 * _RIGHT_FOOT : 2 * _RIGHT_FOOT + 2]
        means = pose + pelvis.repeat(1, 1, 1, len(PARENTS))
        return means.to(x.dtype)

    def describe(self) -> dict[str, Any]:
        """The law's parameters, for a run's metadata."""
        return {
            "num_contexts": self.num_contexts,
            "probs": self.probs.tolist(),
            "context_arms": self.context_arms.tolist(),
            "ramp_steps": self.ramp_steps,
            "wave_period": self.wave_period,
            "wave_amplitude": self.wave_amplitude,
            "noise": self.noise,
            "mode_names": list(self.mode_names),
        }


def _idle_angles(
    t_obs: int, phase: Tensor, context_arm: Tensor, sway: float, period: float
) -> Tensor:
    """``(N, t_obs, A)`` relative angles of standing and swaying, the left arm held."""
    theta = 2 * math.pi * torch.arange(t_obs, dtype=torch.float64) / period + phase[:, None]
    angles = torch.zeros((len(phase), t_obs, NUM_ANGLES), dtype=torch.float64)
    angles[..., _SPINE] = _UP + sway * torch.sin(theta)
    angles[..., _HEAD] = -sway * torch.sin(theta)  # the head stays upright
    angles[..., _R_UPPER] = -math.pi + 2 * sway * torch.sin(theta + 1.0)
    angles[..., _R_FORE] = 0.15 + sway * torch.sin(theta + 1.5)
    angles[..., _L_UPPER] = -math.pi + context_arm[:, None]
    angles[..., _L_FORE] = 0.15
    angles[..., [_R_THIGH, _L_THIGH]] = -_UP
    return angles


def make_stick_figure(
    num_examples: int,
    *,
    seed: int = 0,
    t_obs: int = 10,
    t_pred: int = 20,
    scale: tuple[float, float] = (0.85, 1.15),
    place: float = 1.0,
    sway: float = 0.06,
    sway_period: float = 12.0,
    **law: Any,
) -> dict[str, Any]:
    """Draw stick-figure motions from a seed.

    Args:
        num_examples: Motions ``N``.
        seed: Seed of everything drawn.
        t_obs: History frames (>= 1).
        t_pred: Future frames.
        scale: Range of the uniform body scale.
        place: Pelvis ``x`` is uniform in ``[-place, place]``; the feet stand on ``y = 0``.
        sway: Amplitude of the idle sway of the trunk, radians (the arm swings twice as far).
        sway_period: Frames per sway; the phase is uniform.
        **law: Passed to :class:`StickFigureLaw` (``probs``, ``context_arms``, ``ramp_steps``,
            ``wave_period``, ``wave_amplitude``, ``noise``).

    Returns:
        ``{"x"``: ``(N, t_obs, 22)``, ``"y"``: ``(N, t_pred, 22)`` float32, ``"mode"``: ``(N,)``
        the mode each future was drawn from, ``"context"``: ``(N,)``, ``"law"``: the
        :class:`StickFigureLaw``}``.
    """
    if num_examples < 1 or t_obs < 1:
        raise ValueError(f"need num_examples >= 1 and t_obs >= 1, got {num_examples} and {t_obs}")
    if not 0 < scale[0] <= scale[1]:
        raise ValueError(f"scale must be a range 0 < low <= high, got {scale}")
    if not 0 <= sway <= 0.3 or sway_period <= 0:
        raise ValueError(f"need 0 <= sway <= 0.3 and sway_period > 0, got {sway}, {sway_period}")
    rule = StickFigureLaw(t_pred, **law)
    g = torch.Generator().manual_seed(int(seed))
    n = int(num_examples)
    context = torch.randint(rule.num_contexts, (n,), generator=g)
    s = scale[0] + (scale[1] - scale[0]) * torch.rand(n, generator=g, dtype=torch.float64)
    pelvis_x = place * (2 * torch.rand(n, generator=g, dtype=torch.float64) - 1)
    pelvis_y = s * (BONE_LENGTHS[_R_THIGH] + BONE_LENGTHS[_R_SHIN])
    phase = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    angles = _idle_angles(t_obs, phase, rule.context_arms[context], sway, sway_period)
    root = torch.stack([pelvis_x, pelvis_y], -1)[:, None]
    x = forward_kinematics(angles, root, s[:, None]).float()
    # Draw the mode and the noise from the law itself, so the data follow it exactly.
    probs = rule.mode_probs(x)
    mode = torch.multinomial(probs, 1, generator=g)[:, 0]
    means = rule.mode_means(x)[torch.arange(n), mode]
    y = means + rule.noise * torch.randn(means.shape, generator=g)
    return {"x": x, "y": y.float(), "mode": mode, "context": context, "law": rule}
