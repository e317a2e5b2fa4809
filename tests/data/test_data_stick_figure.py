"""The stick figure: kinematics against hand computation, rigid bones, and a law read from the
history alone."""

from __future__ import annotations

import math

import pytest
import torch

from plausible.data.sequences import FutureLaw
from plausible.data.stick_figure import (
    BONE_LENGTHS,
    BONES,
    PARENTS,
    StickFigureLaw,
    forward_kinematics,
    inverse_kinematics,
    make_stick_figure,
)

R3 = math.sqrt(3.0)
H2 = math.sqrt(2.0) / 2


def _joints(frames: torch.Tensor) -> torch.Tensor:
    return frames.double().unflatten(-1, (len(PARENTS), 2))


def test_bones_follow_the_parent_list() -> None:
    assert BONES == (
        (0, 1),
        (1, 2),
        (1, 3),
        (3, 4),
        (1, 5),
        (5, 6),
        (0, 7),
        (7, 8),
        (0, 9),
        (9, 10),
    )
    assert len(BONE_LENGTHS) == len(BONES)


def test_forward_kinematics_by_hand() -> None:
    """Unit bones; each angle is relative to its parent bone, the first of a chain absolute."""
    angles = torch.tensor(
        [
            math.pi / 3,  # trunk: 60 degrees
            math.pi / 6,  # head: 60 + 30 = 90, straight up
            -math.pi / 3,  # right upper arm: 60 - 60 = 0, along +x
            -math.pi / 2,  # right forearm: 0 - 90 = -90, down
            math.pi,  # left upper arm: 60 + 180 = 240
            0.0,  # left forearm: 240
            -math.pi / 2,  # right thigh: -90
            math.pi / 2,  # right shin: -90 + 90 = 0
            -3 * math.pi / 4,  # left thigh: -135
            -math.pi / 4,  # left shin: -180
        ],
        dtype=torch.float64,
    )
    got = forward_kinematics(angles, lengths=(1.0,) * 10)
    expected = torch.tensor(
        [
            (0.0, 0.0),  # pelvis
            (0.5, R3 / 2),  # neck
            (0.5, R3 / 2 + 1),  # head
            (1.5, R3 / 2),  # right elbow
            (1.5, R3 / 2 - 1),  # right hand
            (0.0, 0.0),  # left elbow: back along the trunk
            (-0.5, -R3 / 2),  # left hand
            (0.0, -1.0),  # right knee
            (1.0, -1.0),  # right foot
            (-H2, -H2),  # left knee
            (-H2 - 1, -H2),  # left foot
        ],
        dtype=torch.float64,
    ).flatten()
    assert torch.allclose(got, expected, atol=1e-12)
    # The root moves every joint; the scale stretches every bone about the root.
    root = torch.tensor([2.0, -3.0], dtype=torch.float64)
    moved = forward_kinematics(angles, root, 2.5, lengths=(1.0,) * 10)
    assert torch.allclose(moved, 2.5 * expected + root.repeat(11), atol=1e-12)


def test_three_bone_chain_with_the_default_lengths() -> None:
    """Trunk up, upper arm forward, forearm up: neck, elbow and hand at closed-form places."""
    angles = torch.zeros(10, dtype=torch.float64)
    angles[0], angles[2], angles[3] = math.pi / 2, -math.pi / 2, math.pi / 2
    joints = _joints(forward_kinematics(angles, scale=2.0))
    trunk, upper, fore = (2 * BONE_LENGTHS[k] for k in (0, 2, 3))
    assert torch.allclose(joints[1], torch.tensor([0.0, trunk], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(joints[3], torch.tensor([upper, trunk], dtype=torch.float64), atol=1e-12)
    assert torch.allclose(
        joints[4], torch.tensor([upper, trunk + fore], dtype=torch.float64), atol=1e-12
    )


def test_inverse_kinematics_undoes_forward_kinematics() -> None:
    g = torch.Generator().manual_seed(0)
    angles = (2 * torch.rand(50, 10, generator=g, dtype=torch.float64) - 1) * math.pi
    root = torch.randn(50, 2, generator=g, dtype=torch.float64)
    scale = 0.5 + torch.rand(50, generator=g, dtype=torch.float64)
    got_angles, got_root, got_scale = inverse_kinematics(forward_kinematics(angles, root, scale))
    wrapped = torch.remainder(got_angles - angles + math.pi, 2 * math.pi) - math.pi
    assert wrapped.abs().max() < 1e-9
    assert torch.allclose(got_root, root) and torch.allclose(got_scale, scale)


def _bone_ratios(frames: torch.Tensor) -> torch.Tensor:
    """``(..., A)`` each bone's length over the trunk's, over its length at scale 1."""
    joints = _joints(frames)
    parents, children = zip(*BONES, strict=True)
    lengths = (joints[..., list(children), :] - joints[..., list(parents), :]).norm(dim=-1)
    return (
        lengths
        / lengths[..., :1]
        / (torch.tensor(BONE_LENGTHS, dtype=torch.float64) / BONE_LENGTHS[0])
    )


def test_bones_keep_their_lengths_in_every_frame_of_every_mode() -> None:
    d = make_stick_figure(200, seed=1)
    x, means = d["x"], d["law"].mode_means(d["x"])  # (B, T_obs, D), (B, M, T_pred, D)
    for ratios in (_bone_ratios(x), _bone_ratios(means)):
        assert torch.allclose(ratios, torch.ones_like(ratios), atol=1e-5)
    # One body size for the whole motion: the trunk of every future frame is the history's.
    trunk_x = _joints(x)[:, :, 1].sub(_joints(x)[:, :, 0]).norm(dim=-1)  # (B, T_obs)
    trunk_y = _joints(means)[..., 1, :].sub(_joints(means)[..., 0, :]).norm(dim=-1)  # (B, M, T)
    assert torch.allclose(trunk_x, trunk_x[:, :1], rtol=1e-5)
    assert torch.allclose(trunk_y, trunk_x[:, :1, None], rtol=1e-5)


def test_feet_stand_on_the_ground_and_the_right_foot_stays_put() -> None:
    d = make_stick_figure(200, seed=2)
    joints = _joints(d["x"])
    assert joints[..., (8, 10), 1].abs().max() < 1e-6  # both feet on y = 0 while idle
    means = _joints(d["law"].mode_means(d["x"]))
    assert torch.allclose(means[..., 8, :], joints[:, -1, None, None, 8, :], atol=1e-5)


def test_target_poses_are_reached() -> None:
    """After the ramp, the trunk and the right upper arm point where each mode says."""
    law = StickFigureLaw(t_pred=20, ramp_steps=8)
    d = make_stick_figure(100, seed=3, t_pred=20, ramp_steps=8)
    joints = _joints(law.mode_means(d["x"]))[:, :, 8:]  # frames at or after the ramp
    trunk = joints[..., 1, :] - joints[..., 0, :]
    arm = joints[..., 3, :] - joints[..., 1, :]
    direction = lambda v: torch.atan2(v[..., 1], v[..., 0])  # noqa: E731
    for m, (trunk_angle, arm_angle) in enumerate(
        [(math.pi / 2, math.pi / 2 - 0.45), (math.pi / 2 - 0.25, 0.05), (math.pi / 2 - 0.35, -0.5)]
    ):
        assert torch.allclose(direction(trunk[:, m]), torch.tensor(trunk_angle).double(), atol=1e-5)
        assert torch.allclose(direction(arm[:, m]), torch.tensor(arm_angle).double(), atol=1e-5)
    # Crouching lowers the pelvis: thighs at 1.1 rad from down, shins 0.7 rad behind down.
    legs = BONE_LENGTHS[6] * math.cos(1.1) + BONE_LENGTHS[7] * math.cos(0.7)
    scale = inverse_kinematics(d["x"][:, -1].double())[2]
    assert torch.allclose(joints[:, 2, :, 0, 1], (scale * legs)[:, None], atol=1e-5)
    # Waving and reaching keep the pelvis where it stood.
    for m in (0, 1):
        assert torch.allclose(joints[:, m, :, 0], _joints(d["x"])[:, -1, None, 0], atol=1e-5)


def test_law_is_read_from_the_history() -> None:
    d = make_stick_figure(3000, seed=4)
    law, x = d["law"], d["x"]
    assert isinstance(law, FutureLaw)
    assert torch.equal(law.context(x), d["context"])
    assert set(d["context"].tolist()) == {0, 1, 2}
    assert torch.equal(law.mode_probs(x), law.context_probs()[d["context"]])
    assert torch.equal(law.context_probs()[1], torch.tensor([0.1, 0.6, 0.3], dtype=torch.float64))
    # Only the last frame matters: earlier frames may change without changing the law.
    means = law.mode_means(x[:20])
    scrambled = x[:20].clone()
    scrambled[:, :-1] = torch.randn_like(scrambled[:, :-1])
    assert torch.equal(law.mode_means(scrambled), means)
    # Moving the history moves every mode's future by the same step.
    shift = torch.tensor([0.7, -0.2]).repeat(11)
    assert torch.allclose(law.mode_means(x[:20] + shift), means + shift, atol=1e-5)


def test_data_follow_the_law() -> None:
    n = 5000
    d = make_stick_figure(n, seed=5)
    law = d["law"]
    p = law.mode_probs(d["x"])
    counts = torch.stack([(d["mode"] == m).double().sum() for m in range(3)])
    expected, sd = p.sum(0), (p * (1 - p)).sum(0).sqrt()
    assert ((counts - expected).abs() < 4 * sd).all(), (counts, expected)
    means = law.mode_means(d["x"])[torch.arange(n), d["mode"]]
    residual = (d["y"] - means).double()
    assert residual.std().item() == pytest.approx(law.noise, rel=0.005)
    assert residual.mean().abs().item() < 4 * law.noise / math.sqrt(residual.numel())


def test_modes_are_well_separated() -> None:
    n = 5000
    d = make_stick_figure(n, seed=6)
    law = d["law"]
    means = law.mode_means(d["x"]).double().flatten(2)  # (N, M, K)
    gaps = (means[:, :, None] - means[:, None]).norm(dim=-1) + 1e9 * torch.eye(3)
    assert gaps.min() > 2 * law.tolerance  # the tolerance balls never touch
    assigned = law.assign_modes(d["x"], d["y"][None])[0]
    assert (assigned == d["mode"]).double().mean() > 0.999
    distance = (d["y"].double().flatten(1) - means[torch.arange(n), d["mode"]]).norm(dim=-1)
    outside = int((distance > law.tolerance).sum())
    assert abs(outside - 0.001 * n) < 4 * math.sqrt(0.001 * n)


def test_make_stick_figure_is_reproducible_and_checked() -> None:
    a, b = make_stick_figure(30, seed=7), make_stick_figure(30, seed=7)
    for key in ("x", "y", "mode", "context"):
        assert torch.equal(a[key], b[key])
    assert a["x"].shape == (30, 10, 22) and a["x"].dtype == torch.float32
    assert not torch.equal(a["x"], make_stick_figure(30, seed=8)["x"])
    with pytest.raises(ValueError, match="probs must be 3 non-negative numbers"):
        make_stick_figure(5, probs=(0.5, 0.5))
    with pytest.raises(ValueError, match=r"at least 0\.2 apart"):
        make_stick_figure(5, context_arms=(0.0, 0.1))
    with pytest.raises(ValueError, match=r"histories are \(B, T_obs >= 1, 22\)"):
        a["law"].mode_means(a["x"][..., :20])
