"""Seeded toy inverse problems with known answers: Bishop's sine, a two-link arm, pose lifting."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "SINE_AMPLITUDE",
    "SMALL_SKELETON",
    "PoseData",
    "Skeleton",
    "TwoLinkArm",
    "sine_branches",
    "sine_curve",
    "sine_data",
]

SINE_AMPLITUDE = 0.3
# Turning points of t + 0.3 sin(2 pi t): g'(t) = 1 + 0.6 pi cos(2 pi t) = 0.
_T_TURN = math.acos(-1.0 / (2 * math.pi * SINE_AMPLITUDE)) / (2 * math.pi)


def _generator(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(int(seed))


# -- Bishop's sine ---------------------------------------------------------------------------


def sine_curve(t: Tensor) -> Tensor:
    """``g(t) = t + 0.3 sin(2 pi t)``, the noise-free forward map of Bishop's toy problem."""
    return t + SINE_AMPLITUDE * torch.sin(2 * math.pi * t)


def sine_data(
    num_points: int,
    *,
    seed: int = 0,
    noise: float = 0.1,
    spacing: Literal["random", "even"] = "random",
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Bishop's toy problem: ``t ~ U(0, 1)``, ``x = t + 0.3 sin(2 pi t) + U(-noise, noise)``.

    The forward problem learns ``x`` from ``t`` (one answer); the inverse problem learns ``t``
    from ``x``, which has three answers for ``x`` in about ``(0.41, 0.59)``.

    Args:
        num_points: Number of pairs ``N``.
        seed: Seed of the draws.
        noise: Half-width of the uniform noise added to ``x``.
        spacing: ``random`` (``t ~ U(0, 1)``) or ``even`` (``N`` evenly spaced ``t``).
        dtype: Floating dtype of the result.

    Returns:
        ``t`` and ``x``, each ``(N, 1)``.
    """
    if num_points < 1:
        raise ValueError(f"num_points must be >= 1, got {num_points}")
    gen = _generator(seed)
    if spacing == "random":
        t = torch.rand(num_points, 1, generator=gen, dtype=torch.float64)
    elif spacing == "even":
        t = torch.linspace(0.0, 1.0, num_points, dtype=torch.float64)[:, None]
    else:
        raise ValueError(f"spacing must be 'random' or 'even', got {spacing!r}")
    eps = (2 * torch.rand(num_points, 1, generator=gen, dtype=torch.float64) - 1) * noise
    return t.to(dtype), (sine_curve(t) + eps).to(dtype)


def _bisect(x: Tensor, lo: float, hi: float, iters: int = 60) -> Tensor:
    """Solve ``g(t) = x`` for ``t`` in ``[lo, hi]`` where ``g`` is monotone there (x clamped)."""
    glo, ghi = (
        sine_curve(torch.tensor(lo, dtype=x.dtype)),
        sine_curve(torch.tensor(hi, dtype=x.dtype)),
    )
    increasing = bool(ghi > glo)
    a = torch.full_like(x, lo)
    b = torch.full_like(x, hi)
    for _ in range(iters):
        mid = (a + b) / 2
        below = sine_curve(mid) < x
        go_right = below if increasing else ~below
        a = torch.where(go_right, mid, a)
        b = torch.where(go_right, b, mid)
    return (a + b) / 2


def sine_branches(x: Tensor) -> tuple[Tensor, Tensor]:
    """Noise-free answers of the inverse sine problem: every ``t`` in ``[0, 1]`` with ``g(t) = x``.

    ``g`` rises on ``[0, 0.339]``, falls on ``[0.339, 0.661]`` and rises on ``[0.661, 1]``, so
    there are one or three answers. Inputs below ``g(0) = 0`` (above ``g(1) = 1``), reachable
    through the noise, get the boundary answer ``t = 0`` (``t = 1``).

    Args:
        x: ``(N,)`` or ``(N, 1)`` inputs.

    Returns:
        ``solutions`` ``(N, 3, 1)`` (lower, middle, upper branch; NaN where absent) and ``valid``
        ``(N, 3)`` bool.
    """
    x64 = x.reshape(-1).to(torch.float64)
    t1, t2 = _T_TURN, 1.0 - _T_TURN
    g1, g2 = float(sine_curve(torch.tensor(t1))), float(sine_curve(torch.tensor(t2)))
    roots = torch.stack(
        [
            _bisect(x64.clamp(max=g1), 0.0, t1),
            _bisect(x64, t1, t2),
            _bisect(x64.clamp(min=g2), t2, 1.0),
        ],
        dim=1,
    )
    valid = torch.stack([x64 <= g1, (x64 >= g2) & (x64 <= g1), x64 >= g2], dim=1)
    roots = torch.where(valid, roots, torch.full_like(roots, math.nan))
    return roots.to(x.dtype)[..., None], valid


# -- two-link robot arm ------------------------------------------------------------------------


@dataclass(frozen=True)
class TwoLinkArm:
    """A planar arm with two links; joint angles ``(theta1, theta2)`` in radians.

    ``theta1`` is the shoulder angle from the x-axis, ``theta2`` the elbow angle relative to the
    first link (0 = straight). The end effector is at
    ``L1 (cos theta1, sin theta1) + L2 (cos(theta1 + theta2), sin(theta1 + theta2))``.
    Every reachable position not on the workspace boundary has two solutions, ``+theta2``
    ("elbow down") and ``-theta2`` ("elbow up"), when both fit in the joint ranges.

    The defaults follow the setup usually attributed to Bishop (1994): ``L = (0.8, 0.2)``,
    ``theta1 in (0.3, 1.2)`` and an elbow range of ``(pi/2, 3pi/2)`` in the convention where a
    straight arm has ``theta2 = pi``, i.e. ``(-pi/2, pi/2)`` here (not checked against the
    report itself).

    Attributes:
        lengths: ``(L1, L2)``.
        shoulder_range: Range of ``theta1``.
        elbow_range: Range of ``theta2``.
    """

    lengths: tuple[float, float] = (0.8, 0.2)
    shoulder_range: tuple[float, float] = (0.3, 1.2)
    elbow_range: tuple[float, float] = (-math.pi / 2, math.pi / 2)

    def joints(self, angles: Tensor) -> Tensor:
        """Base, elbow and end-effector positions, ``(..., 3, 2)``, for ``angles`` ``(..., 2)``."""
        l1, l2 = self.lengths
        t1, t2 = angles[..., 0], angles[..., 1]
        elbow = torch.stack([l1 * torch.cos(t1), l1 * torch.sin(t1)], dim=-1)
        end = elbow + torch.stack([l2 * torch.cos(t1 + t2), l2 * torch.sin(t1 + t2)], dim=-1)
        return torch.stack([torch.zeros_like(elbow), elbow, end], dim=-2)

    def forward(self, angles: Tensor) -> Tensor:
        """End-effector position ``(..., 2)`` for joint angles ``(..., 2)``."""
        return self.joints(angles)[..., 2, :]

    def inverse(self, position: Tensor, *, slack: float = 1e-6) -> tuple[Tensor, Tensor]:
        """Both inverse-kinematics solutions of ``position`` ``(..., 2)``.

        Returns:
            ``solutions`` ``(..., 2, 2)`` (``theta2 >= 0`` first; NaN where unreachable) and
            ``valid`` ``(..., 2)``: reachable and inside the joint ranges (within ``slack``).
        """
        l1, l2 = self.lengths
        p = position.to(torch.float64)
        r2 = (p**2).sum(-1)
        cos2 = (r2 - l1**2 - l2**2) / (2 * l1 * l2)
        reachable = cos2.abs() <= 1 + slack
        elbow = torch.acos(cos2.clamp(-1.0, 1.0))
        sols = []
        for t2 in (elbow, -elbow):
            t1 = torch.atan2(p[..., 1], p[..., 0]) - torch.atan2(
                l2 * torch.sin(t2), l1 + l2 * torch.cos(t2)
            )
            sols.append(torch.stack([t1, t2], dim=-1))
        solutions = torch.stack(sols, dim=-2)
        lo = (
            torch.tensor([self.shoulder_range[0], self.elbow_range[0]], dtype=torch.float64) - slack
        )
        hi = (
            torch.tensor([self.shoulder_range[1], self.elbow_range[1]], dtype=torch.float64) + slack
        )
        inside = ((solutions >= lo) & (solutions <= hi)).all(-1)
        valid = inside & reachable[..., None]
        solutions = torch.where(reachable[..., None, None], solutions, math.nan)
        return solutions.to(position.dtype), valid

    def sample(
        self,
        num_points: int,
        *,
        seed: int = 0,
        noise: float = 0.0,
        dtype: torch.dtype = torch.float32,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Joint angles uniform over the ranges and the end-effector positions they reach.

        Args:
            num_points: Number of examples ``N``.
            seed: Seed of the draws.
            noise: Standard deviation of Gaussian noise on the observed positions.
            dtype: Floating dtype of the results.

        Returns:
            ``angles`` ``(N, 2)``, noise-free ``positions`` ``(N, 2)`` and observed (noisy)
            positions ``(N, 2)``.
        """
        gen = _generator(seed)
        u = torch.rand(num_points, 2, generator=gen, dtype=torch.float64)
        lo = torch.tensor([self.shoulder_range[0], self.elbow_range[0]], dtype=torch.float64)
        hi = torch.tensor([self.shoulder_range[1], self.elbow_range[1]], dtype=torch.float64)
        angles = lo + u * (hi - lo)
        clean = self.forward(angles)
        observed = clean + noise * torch.randn(num_points, 2, generator=gen, dtype=torch.float64)
        return angles.to(dtype), clean.to(dtype), observed.to(dtype)


# -- 2-D to 3-D pose lifting ----------------------------------------------------------------------


def _elevated(direction: tuple[float, float], degrees: float) -> tuple[float, float, float]:
    """Unit vector along the image-plane ``direction`` tilted ``degrees`` towards the camera."""
    norm = math.hypot(*direction)
    c, s = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    return (direction[0] / norm * c, direction[1] / norm * c, s)


@dataclass(frozen=True)
class Skeleton:
    """A kinematic tree with fixed bone lengths and a prior over bone directions.

    Coordinates: ``x`` right, ``y`` up, ``z`` towards the camera; the orthographic camera keeps
    ``(x, y)`` and loses ``z``. The root sits at the origin. Each bone's direction is uniform on a
    spherical cap (half-angle ``spread``) around its ``rest`` direction, so a bone whose depth can
    be flipped without leaving its cap is ambiguous: the 2-D pose has ``2^a`` 3-D answers for
    ``a`` ambiguous bones.

    Attributes:
        names: Joint names, root first; parents come before children.
        parents: Index of each joint's parent (``-1`` for the root).
        lengths: Length of the bone ending at each joint (0 for the root), in metres.
        rest: Unit rest direction of each bone (unused for the root).
        spread: Half-angle of each bone's cap, in degrees.
    """

    names: tuple[str, ...]
    parents: tuple[int, ...]
    lengths: tuple[float, ...]
    rest: tuple[tuple[float, float, float], ...]
    spread: tuple[float, ...]

    def __post_init__(self) -> None:
        n = len(self.names)
        if not (len(self.parents) == len(self.lengths) == len(self.rest) == len(self.spread) == n):
            raise ValueError(
                "names, parents, lengths, rest and spread must have one entry per joint"
            )
        if self.parents[0] != -1 or any(not 0 <= p < j for j, p in enumerate(self.parents) if j):
            raise ValueError(
                f"the root must come first and parents before children: {self.parents}"
            )

    @property
    def num_joints(self) -> int:
        """Joints including the root."""
        return len(self.names)

    @property
    def num_bones(self) -> int:
        """Bones (joints other than the root)."""
        return len(self.names) - 1

    def _assemble(self, bones: Tensor) -> Tensor:
        """Joints ``(..., J, 3)`` from bone vectors ``(..., B, 3)``; bone b ends at joint b + 1."""
        joints = [torch.zeros_like(bones[..., 0, :])]
        for j in range(1, self.num_joints):
            joints.append(joints[self.parents[j]] + bones[..., j - 1, :])
        return torch.stack(joints, dim=-2)

    def sample(
        self, num_poses: int, *, seed: int = 0, dtype: torch.dtype = torch.float32
    ) -> Tensor:
        """Random poses, ``(N, J, 3)``, root at the origin."""
        gen = _generator(seed)
        bones = []
        for j in range(1, self.num_joints):
            r = torch.tensor(self.rest[j], dtype=torch.float64)
            helper = torch.tensor(
                [1.0, 0.0, 0.0] if abs(self.rest[j][0]) < 0.9 else [0.0, 1.0, 0.0],
                dtype=torch.float64,
            )
            u1 = torch.linalg.cross(r, helper)
            u1 = u1 / u1.norm()
            u2 = torch.linalg.cross(r, u1)
            cos_lo = math.cos(math.radians(self.spread[j]))
            cos_t = cos_lo + (1 - cos_lo) * torch.rand(
                num_poses, generator=gen, dtype=torch.float64
            )
            sin_t = (1 - cos_t**2).clamp(min=0).sqrt()
            phi = 2 * math.pi * torch.rand(num_poses, generator=gen, dtype=torch.float64)
            d = (sin_t * torch.cos(phi))[:, None] * u1 + (sin_t * torch.sin(phi))[:, None] * u2
            d = d + cos_t[:, None] * r
            bones.append(self.lengths[j] * d)
        return self._assemble(torch.stack(bones, dim=1)).to(dtype)

    def lift_solutions(self, joints2d: Tensor, *, slack_deg: float = 1e-3) -> tuple[Tensor, Tensor]:
        """Every 3-D pose in the prior's support that projects to ``joints2d``.

        Each bone's depth is ``+-sqrt(L^2 - |dxy|^2)``; a sign is allowed when the bone direction
        stays inside its cap. All ``2^B`` sign patterns are checked.

        Args:
            joints2d: ``(N, J, 2)`` noise-free projections.
            slack_deg: Angular slack of the cap test, in degrees.

        Returns:
            ``solutions`` ``(N, M, J, 3)`` (NaN-padded; ``M`` is the largest count in the batch)
            and ``valid`` ``(N, M)``.
        """
        p = joints2d.to(torch.float64)
        n = p.shape[0]
        parents = torch.tensor(self.parents[1:])
        dxy = p[:, 1:] - p[:, parents]  # (N, B, 2)
        lengths = torch.tensor(self.lengths[1:], dtype=torch.float64)
        dz = (lengths**2 - (dxy**2).sum(-1)).clamp(min=0).sqrt()  # (N, B)
        rest = torch.tensor(self.rest[1:], dtype=torch.float64)  # (B, 3)
        cos_lo = torch.cos(
            torch.deg2rad(torch.tensor(self.spread[1:], dtype=torch.float64) + slack_deg)
        )
        signs = torch.tensor(
            list(itertools.product((1.0, -1.0), repeat=self.num_bones)), dtype=torch.float64
        )  # (P, B)
        along = (dxy * rest[:, :2]).sum(-1)  # (N, B)
        ok = (along[:, None] + signs * dz[:, None] * rest[:, 2]) / lengths >= cos_lo  # (N, P, B)
        pattern_ok = ok.all(-1)
        m = max(int(pattern_ok.sum(-1).max()), 1)
        order = torch.sort((~pattern_ok).to(torch.int8), dim=1, stable=True).indices[:, :m]
        valid = pattern_ok.gather(1, order)
        chosen = signs[order]  # (N, M, B)
        bones = torch.cat([dxy[:, None].expand(n, m, -1, 2), (chosen * dz[:, None])[..., None]], -1)
        solutions = self._assemble(bones)
        solutions = torch.where(valid[..., None, None], solutions, math.nan)
        return solutions.to(joints2d.dtype), valid


# Torso, head and legs lean towards the camera by more than their spread, so their depth is never
# ambiguous; upper arms and forearms are close to the image plane and often are.
SMALL_SKELETON = Skeleton(
    names=("pelvis", "chest", "head", "l_elbow", "l_hand", "r_elbow", "r_hand", "l_foot", "r_foot"),
    parents=(-1, 0, 1, 1, 3, 1, 5, 0, 0),
    lengths=(0.0, 0.50, 0.20, 0.30, 0.28, 0.30, 0.28, 0.85, 0.85),
    rest=(
        (0.0, 1.0, 0.0),
        _elevated((0.0, 1.0), 15.0),
        _elevated((0.0, 1.0), 20.0),
        _elevated((1.0, -0.6), 10.0),
        _elevated((0.8, -0.4), 30.0),
        _elevated((-1.0, -0.6), 10.0),
        _elevated((-0.8, -0.4), 30.0),
        _elevated((0.15, -1.0), 20.0),
        _elevated((-0.15, -1.0), 20.0),
    ),
    spread=(0.0, 10.0, 15.0, 45.0, 45.0, 45.0, 45.0, 15.0, 15.0),
)


@dataclass
class PoseData:
    """A pose-lifting split: observed 2-D joints, the true 3-D joints and their clean projections.

    Under the orthographic camera the 2-D joints are the 3-D joints' ``(x, y)``, so what a model
    has to supply is the depth ``z`` of each joint; :meth:`lift` puts a predicted depth and the
    observed 2-D joints back together into a 3-D pose.

    Attributes:
        x: ``(N, 2 (J - 1))`` observed (noisy) 2-D joints, root dropped (it is at the origin).
        depth: ``(N, J - 1)`` root-relative depth of each non-root joint, in metres.
        joints3d: ``(N, J, 3)`` true 3-D joints, root included.
        joints2d: ``(N, J, 2)`` noise-free projections, for the true solution sets.
    """

    x: Tensor
    depth: Tensor
    joints3d: Tensor
    joints2d: Tensor

    @staticmethod
    def lift(x: Tensor, depth: Tensor) -> Tensor:
        """3-D poses ``(..., B, 3 (J - 1))`` from 2-D joints ``(B, 2 (J - 1))`` and depths
        ``(..., B, J - 1)`` (any leading sample axes), joints flattened as ``(x, y, z)`` triples."""
        xy = x.unflatten(-1, (-1, 2)).expand(*depth.shape, 2)
        return torch.cat([xy, depth.unsqueeze(-1)], dim=-1).flatten(-2)

    @classmethod
    def generate(
        cls,
        num_poses: int,
        *,
        seed: int = 0,
        noise: float = 0.002,
        skeleton: Skeleton = SMALL_SKELETON,
        dtype: torch.dtype = torch.float32,
    ) -> PoseData:
        """Random poses of ``skeleton``, projected orthographically, 2-D noise of std ``noise``."""
        joints = skeleton.sample(num_poses, seed=seed, dtype=torch.float64)
        clean = joints[..., :2]
        gen = _generator(seed + 7_919)
        observed = clean + noise * torch.randn(clean.shape, generator=gen, dtype=torch.float64)
        return cls(
            x=observed[:, 1:].flatten(1).to(dtype),
            depth=joints[:, 1:, 2].to(dtype),
            joints3d=joints.to(dtype),
            joints2d=clean.to(dtype),
        )
