"""Saliency scores: agreement with pysodmetrics, pixel-loop re-derivations, the suite metric."""

from __future__ import annotations

import importlib
import importlib.util
import itertools
import sys
import types
import warnings
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from plausible.data.task_data import TaskData
from plausible.metrics import saliency as sal
from plausible.metrics.suite import DIRECTIONS, NotApplicableError, headline, suite_metric_names

TOL = 1e-6


# -- the reference implementation (a test-only oracle) ---------------------------------------------
def _stub(name: str, **attributes: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attributes)
    return module


@pytest.fixture(scope="module")
def psm() -> Any:
    """``py_sod_metrics``; skipped where it is not installed.

    Its releases pin ``numpy < 2.3.5`` (ours is newer), so it is installed without dependencies.
    Its package imports OpenCV and scikit-image for metrics we do not compare (weighted F, human
    correction effort, context measure); where those are missing, empty modules stand in for them
    during the import only.
    """
    if importlib.util.find_spec("py_sod_metrics") is None:
        pytest.skip("pysodmetrics is not installed (pip install --no-deps pysodmetrics)")
    try:
        return importlib.import_module("py_sod_metrics")
    except ModuleNotFoundError as missing:
        if missing.name not in {"cv2", "skimage"}:
            raise
    color = _stub("skimage.color", deltaE_ciede2000=None, rgb2lab=None)
    measure, morphology = _stub("skimage.measure"), _stub("skimage.morphology")
    skimage = _stub("skimage", color=color, measure=measure, morphology=morphology)
    stubs = {
        "cv2": _stub("cv2"),
        "skimage": skimage,
        "skimage.color": color,
        "skimage.measure": measure,
        "skimage.morphology": morphology,
    }
    # patch.dict restores sys.modules afterwards: neither the stubs nor the package stay there.
    with mock.patch.dict(sys.modules, stubs):
        return importlib.import_module("py_sod_metrics")


def _reference(psm: Any, u: np.ndarray, gt: np.ndarray, *, normalize: bool = True) -> dict:
    """The oracle's scores of one pair (8-bit images, or floats and booleans unnormalised)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Fmeasure's deprecation notice; NaN means of empty blocks
        m, s, f, e = psm.MAE(), psm.Smeasure(), psm.Fmeasure(), psm.Emeasure()
        for metric in (m, s, f, e):
            metric.step(u, gt, normalize=normalize)
    fm, em = f.get_results()["fm"], e.get_results()["em"]
    return {
        "mae": float(m.get_results()["mae"]),
        "s": float(s.get_results()["sm"]),
        "f_adaptive": float(fm["adp"]),
        "f_curve": fm["curve"][::-1],  # the oracle stores t = 255 first
        "e_adaptive": float(em["adp"]),
        "e_curve": em["curve"][::-1],
    }


def _ours(pred: np.ndarray, gt: np.ndarray, *, normalize: bool = True) -> dict:
    f = sal.f_measure(pred, gt, normalize=normalize)
    e = sal.e_measure(pred, gt, normalize=normalize)
    return {
        "mae": sal.mae(pred, gt, normalize=normalize),
        "s": sal.s_measure(pred, gt, normalize=normalize),
        "f_adaptive": f.adaptive,
        "f_curve": f.curve,
        "e_adaptive": e.adaptive,
        "e_curve": e.curve,
    }


def _centroid_on_last_line(mask: np.ndarray) -> bool:
    """Whether the S-measure's split leaves an empty block (the oracle's NaN case)."""
    if mask.all() or not mask.any():
        return False
    rows, cols = np.nonzero(mask)
    h, w = mask.shape
    return int(np.round(rows.mean())) == h - 1 or int(np.round(cols.mean())) == w - 1


def _cases() -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, 8-bit prediction, 8-bit mask): shapes x masks x predictions, seeded."""
    rng = np.random.default_rng(20260506)
    cases = []
    for h, w in ((1, 1), (2, 3), (7, 9), (16, 12), (5, 31), (24, 24)):
        i, j = np.mgrid[0:h, 0:w]
        blob = (i - h / 3) ** 2 / max(h, 1) ** 2 + (j - w / 3) ** 2 / max(w, 1) ** 2 < 0.1
        masks = {
            "empty": np.zeros((h, w), bool),
            "full": np.ones((h, w), bool),
            "pixel": (i == h // 3) & (j == w // 3),
            "blob": blob,
            "sparse": rng.random((h, w)) < 0.15,
            "dense": rng.random((h, w)) < 0.7,
        }
        for mask_name, mask in masks.items():
            smooth = np.clip(255 * (0.7 * mask + 0.3 * rng.random((h, w))), 0, 255)
            preds = {
                "random": rng.integers(0, 256, (h, w)),
                "smooth": smooth.astype(np.uint8),
                "zeros": np.zeros((h, w)),
                "grey": np.full((h, w), 128),
                "ones": np.full((h, w), 255),
                "truth": 255 * mask,
            }
            for pred_name, u in preds.items():
                name = f"{h}x{w}-{mask_name}-{pred_name}"
                cases.append((name, u.astype(np.uint8), mask.astype(np.uint8) * 255))
    return cases


CASES = _cases()


@pytest.mark.parametrize(("name", "u", "gt"), CASES, ids=[c[0] for c in CASES])
def test_every_score_of_a_pair_agrees_with_pysodmetrics(
    psm: Any, name: str, u: np.ndarray, gt: np.ndarray
) -> None:
    # An 8-bit image u is the float map u / 255; an 8-bit mask is the mask gt > 128.
    ref = _reference(psm, u, gt)
    ours = _ours(u / 255.0, gt > 128)
    if _centroid_on_last_line(gt > 128):  # see the test of that case below
        assert np.isnan(ref.pop("s")) and np.isfinite(ours.pop("s"))
    for key, value in ref.items():
        np.testing.assert_allclose(ours[key], value, rtol=0, atol=TOL, err_msg=f"{name}: {key}")
    assert ours["f_curve"].shape == ours["e_curve"].shape == (256,)


def test_float_maps_without_normalisation_agree_with_pysodmetrics(psm: Any) -> None:
    rng = np.random.default_rng(1)
    for h, w, fg in ((6, 5, 0.3), (13, 17, 0.5), (20, 9, 0.0), (8, 8, 1.0)):
        pred = 0.2 + 0.6 * rng.random((h, w))  # not stretched to [0, 1]: normalisation matters
        gt = rng.random((h, w)) < fg
        if _centroid_on_last_line(gt):
            continue
        ref = _reference(psm, pred, gt, normalize=False)
        ours = _ours(pred, gt, normalize=False)
        for key, value in ref.items():
            np.testing.assert_allclose(ours[key], value, rtol=0, atol=TOL, err_msg=key)
        assert ours["mae"] == pytest.approx(np.abs(pred - gt).mean(), abs=1e-15)  # not stretched


def test_data_set_scores_agree_with_pysodmetrics(psm: Any) -> None:
    rng = np.random.default_rng(2)
    n, h, w = 12, 10, 13
    gts = rng.random((n, h, w)) < rng.random((n, 1, 1))
    gts[0], gts[1] = False, True  # an empty and a full mask
    us = np.clip(255 * (0.5 * gts + 0.6 * rng.random((n, h, w))), 0, 255).astype(np.uint8)
    us[2] = 77  # a constant prediction
    keep = [k for k in range(n) if not _centroid_on_last_line(gts[k])]
    gts, us = gts[keep], us[keep]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m, s, f, e = psm.MAE(), psm.Smeasure(), psm.Fmeasure(), psm.Emeasure()
        for u, gt in zip(us, gts, strict=True):
            for metric in (m, s, f, e):
                metric.step(u, gt.astype(np.uint8) * 255)
    fm, em = f.get_results()["fm"], e.get_results()["em"]
    evaluator = sal.SaliencyEvaluator()
    evaluator.update(us[:4] / 255.0, gts[:4])  # batches give the scores of one call
    evaluator.update(us[4:] / 255.0, gts[4:])
    got = evaluator.scores().summary()
    assert got == sal.saliency_scores(us / 255.0, gts).summary()
    expected = {
        "mae": m.get_results()["mae"],
        "s_measure": s.get_results()["sm"],
        "f_adaptive": fm["adp"],
        "f_max": fm["curve"].max(),
        "f_mean": fm["curve"].mean(),
        "e_adaptive": em["adp"],
        "e_max": em["curve"].max(),
        "e_mean": em["curve"].mean(),
    }
    per_image = {"mae": m.maes, "s_measure": s.sms, "f_adaptive": f.adaptive_fms}
    per_image["e_adaptive"] = e.adaptive_ems
    for key, value in expected.items():
        mean = got[key]["mean"] if key in per_image else got[key]
        assert mean == pytest.approx(float(value), abs=TOL), key
    for key, values in per_image.items():
        stderr = np.std(values, ddof=1) / np.sqrt(len(values))
        assert got[key]["stderr"] == pytest.approx(stderr, abs=TOL), key


def test_s_measure_drops_the_empty_blocks_where_pysodmetrics_gives_nan(psm: Any) -> None:
    rng = np.random.default_rng(3)
    u = rng.integers(0, 256, (5, 6)).astype(np.uint8)
    gt = np.zeros((5, 6), bool)
    gt[1:4, -1] = True  # centroid column 5 = w - 1: the split leaves no columns on the right
    assert np.isnan(_reference(psm, u, gt.astype(np.uint8) * 255)["s"])
    # The oracle's own object score and block SSIMs, with the two empty blocks left out.
    pred = u / 255.0
    pred = (pred - pred.min()) / (pred.max() - pred.min())
    reference = psm.Smeasure()
    cy, cx = 2 + 1, 5 + 1
    region = reference.ssim(pred[:cy, :cx], gt[:cy, :cx]) * cy * cx / 30
    region += reference.ssim(pred[cy:, :cx], gt[cy:, :cx]) * (5 - cy) * cx / 30
    expected = 0.5 * reference.object(pred, gt) + 0.5 * region
    assert sal.s_measure(pred, gt) == pytest.approx(expected, abs=1e-12)


# -- re-derivations that need no oracle ------------------------------------------------------------
def _normalised(u: np.ndarray) -> np.ndarray:
    p = u / 255.0
    return p if p.max() == p.min() else (p - p.min()) / (p.max() - p.min())


def test_golden_values_of_pysodmetrics() -> None:
    # pysodmetrics 1.6.2 on this 6x8 input (an 8-bit ramp and an ellipse), frozen here.
    i, j = np.mgrid[0:6, 0:8]
    pred = ((i * 37 + j * 91) % 256) / 255.0
    gt = (i - 2.5) ** 2 / 6 + (j - 3) ** 2 / 10 < 1
    scores = sal.saliency_scores(pred[None], gt[None])
    expected = {
        "mae": 0.48953974895397484,
        "s_measure": 0.3457371880427975,
        "f_adaptive": 0.2549019607843137,
        "f_max": 0.5882352941176471,
        "f_mean": 0.4693327024089179,
        "e_adaptive": 0.2922807197375697,
        "e_max": 0.5314521856504552,
        "e_mean": 0.4266636857127298,
    }
    got = scores.summary()
    for key, value in expected.items():
        mean = got[key]["mean"] if isinstance(got[key], dict) else got[key]
        assert mean == pytest.approx(value, abs=1e-12), key


@pytest.mark.parametrize("normalize", [True, False], ids=str)
def test_mae_matches_a_pixel_loop(normalize: bool) -> None:
    rng = np.random.default_rng(4)
    u = rng.integers(10, 200, (7, 11))
    gt = rng.random((7, 11)) < 0.4
    p = _normalised(u) if normalize else u / 255.0
    total = 0.0
    for r, c in itertools.product(range(7), range(11)):
        total += abs(p[r, c] - (1.0 if gt[r, c] else 0.0))
    assert sal.mae(u / 255.0, gt, normalize=normalize) == pytest.approx(total / 77, abs=1e-12)


def _f_by_loop(p: np.ndarray, gt: np.ndarray, is_fg: Any, beta2: float = 0.3) -> float:
    tp = fp = fg = 0
    for r, c in itertools.product(range(p.shape[0]), range(p.shape[1])):
        fg += bool(gt[r, c])
        if is_fg(p[r, c]):
            tp += bool(gt[r, c])
            fp += not gt[r, c]
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / fg
    return (1 + beta2) * precision * recall / (beta2 * precision + recall)


@pytest.mark.parametrize("fg_share", [0.0, 0.3, 1.0], ids=str)
def test_f_measure_matches_a_pixel_loop(fg_share: float) -> None:
    rng = np.random.default_rng(5)
    u = rng.integers(0, 256, (9, 8))
    gt = rng.random((9, 8)) < fg_share
    p = _normalised(u)
    f = sal.f_measure(u / 255.0, gt)
    for t in (0, 1, 64, 128, 200, 255):
        expected = _f_by_loop(p, gt, lambda v, t=t: np.floor(255 * v) >= t)
        assert f.curve[t] == pytest.approx(expected, abs=1e-12), t
    threshold = min(2 * p.mean(), 1.0)
    expected = _f_by_loop(p, gt, lambda v: v >= threshold)
    assert f.adaptive == pytest.approx(expected, abs=1e-12)
    if fg_share == 0.0:
        assert not f.curve.any() and f.adaptive == 0.0


def _e_by_alignment_matrix(binary: np.ndarray, gt: np.ndarray) -> float:
    """Fan et al.'s definition per pixel: xi = 2ab / (a^2 + b^2), E = sum (1+xi)^2/4 / (N-1)."""
    n = binary.size
    if not gt.any():
        return float((~binary).sum()) / (n - 1)
    if gt.all():
        return float(binary.sum()) / (n - 1)
    a_mean, b_mean = binary.mean(), gt.mean()
    total = 0.0
    for r, c in itertools.product(range(gt.shape[0]), range(gt.shape[1])):
        a, b = binary[r, c] - a_mean, gt[r, c] - b_mean
        xi = 2 * a * b / (a * a + b * b + sal.EPS)
        total += (1 + xi) ** 2 / 4
    return total / (n - 1)


@pytest.mark.parametrize("fg_share", [0.0, 0.4, 1.0], ids=str)
def test_e_measure_matches_the_alignment_matrix(fg_share: float) -> None:
    rng = np.random.default_rng(6)
    u = rng.integers(0, 256, (8, 10))
    gt = rng.random((8, 10)) < fg_share
    p = _normalised(u)
    e = sal.e_measure(u / 255.0, gt)
    for t in (0, 1, 90, 128, 255):
        expected = _e_by_alignment_matrix(np.floor(255 * p) >= t, gt)
        assert e.curve[t] == pytest.approx(expected, abs=1e-12), t
    expected = _e_by_alignment_matrix(p >= min(2 * p.mean(), 1.0), gt)
    assert e.adaptive == pytest.approx(expected, abs=1e-12)


def test_s_measure_closed_forms() -> None:
    rng = np.random.default_rng(7)
    pred = rng.random((6, 9))
    p = (pred - pred.min()) / (pred.max() - pred.min())
    assert sal.s_measure(pred, np.zeros((6, 9), bool)) == pytest.approx(1 - p.mean(), abs=1e-15)
    assert sal.s_measure(pred, np.ones((6, 9), bool)) == pytest.approx(p.mean(), abs=1e-15)
    gt = np.zeros((6, 9), bool)
    gt[1:4, 2:6] = True
    assert sal.s_measure(gt.astype(float), gt) == pytest.approx(1.0, abs=1e-12)
    # A prediction that is the mask's complement: no structure in common.
    assert sal.s_measure(1.0 - gt, gt) == pytest.approx(0.0, abs=1e-12)


def test_inputs_are_checked() -> None:
    gt = np.zeros((3, 4), bool)
    with pytest.raises(TypeError, match="image / 255"):
        sal.mae(np.zeros((3, 4), np.uint8), gt)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        sal.mae(np.full((3, 4), 1.5), gt)
    with pytest.raises(ValueError, match="same shape"):
        sal.s_measure(np.zeros((4, 3)), gt)
    with pytest.raises(ValueError, match="update"):
        sal.SaliencyEvaluator().scores()


def test_majority_vote_is_strict() -> None:
    votes = torch.tensor([[0.9, 0.9, 0.1, 0.6], [0.7, 0.2, 0.2, 0.5], [0.51, 0.2, 0.3, 0.4]])
    assert sal.majority_vote(votes).tolist() == [1.0, 0.0, 0.0, 0.0]
    tie = torch.tensor([[0.9, 0.1], [0.2, 0.8]])  # one vote of two: background
    assert sal.majority_vote(tie).tolist() == [0.0, 0.0]


# -- the suite metric ------------------------------------------------------------------------------
class _NoisyCopies(nn.Module):
    """Draws noisy copies of the mask held in channel 0 of x: sample k flips each pixel with
    probability ``flips[k]`` and returns 0.9 on foreground, 0.1 on background (plus a little
    seeded jitter), recording every draw."""

    def __init__(self, size: int, flips: tuple[float, ...] | float) -> None:
        super().__init__()
        self.x_shape = (1, size, size)
        self.y_shape = (1, size, size)
        self.flips = flips
        self.scale = nn.Parameter(torch.ones(()))  # gives the model a device
        self.drawn: list[Tensor] = []

    def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
        truth = x[:, :1].expand(num_samples, *x[:, :1].shape)
        p = torch.as_tensor(self.flips, dtype=x.dtype).reshape(-1, *[1] * 4)
        flip = torch.rand(truth.shape) < p
        fg = torch.where(flip, 1 - truth, truth)
        out = 0.1 + 0.8 * fg + 0.05 * torch.rand(truth.shape) * self.scale
        self.drawn.append(out.detach().clone())
        return out


def _masks(n: int, size: int, seed: int = 0) -> TaskData:
    g = torch.Generator().manual_seed(seed)
    i, j = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    centres = torch.rand(n, 2, generator=g) * size
    radius = 1.5 + torch.rand(n, 1, 1, generator=g) * size / 4
    dist2 = (i - centres[:, :1, None]) ** 2 + (j - centres[:, 1:, None]) ** 2
    y = (dist2 < radius**2).float()[:, None]
    split = {"x": y.clone(), "y": y}
    return TaskData(train=split, val=split, test=split)


def test_saliency_is_registered_with_its_directions() -> None:
    assert "saliency" in suite_metric_names()
    assert DIRECTIONS["saliency.mae"] == "lower"
    assert DIRECTIONS["saliency.f_max"] == DIRECTIONS["saliency.e_max"] == "higher"


def test_single_mean_and_consensus_are_the_maps_drawn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sal, "_CHUNK_ELEMENTS", 5 * 3 * 12 * 12)  # chunks of 3 images
    data = _masks(8, 12)
    model = _NoisyCopies(12, flips=0.2)
    result = sal.saliency_metric(model, data, {"saliency": {"num_samples": 5}})
    assert [d.shape[1] for d in model.drawn] == [3, 3, 2]
    maps = torch.cat(model.drawn, dim=1)[:, :, 0].double().numpy()  # (C, N, H, W)
    consensus = np.zeros(maps.shape[1:])
    for idx in itertools.product(*map(range, maps.shape[1:])):
        votes = sum(int(maps[(k, *idx)] > 0.5) for k in range(5))
        consensus[idx] = 1.0 if votes >= 3 else 0.0
    gts = data.test["y"][:, 0].numpy()
    for name, pred in (("single", maps[0]), ("mean", maps.mean(0)), ("consensus", consensus)):
        expected = sal.saliency_scores(pred, gts).summary()
        assert result["details"]["scores"][name] == expected, name
    top = headline({"saliency": result})
    assert sorted(top) == ["saliency.e_max", "saliency.f_max", "saliency.mae", "saliency.s_measure"]
    assert top["saliency.mae"] == result["details"]["scores"]["consensus"]["mae"]
    assert result["details"]["num_examples"] == 8 and result["settings"]["num_samples"] == 5


def test_consensus_of_noisy_copies_beats_one_copy() -> None:
    data = _masks(10, 16, seed=1)
    result = sal.saliency_metric(
        _NoisyCopies(16, flips=0.25), data, {"saliency": {"num_samples": 9, "seed": 3}}
    )
    single, consensus = (result["details"]["scores"][k] for k in ("single", "consensus"))
    # One copy is wrong on about a quarter of the pixels, the vote of nine on about 5%.
    assert consensus["mae"]["mean"] <= single["mae"]["mean"]
    assert consensus["mae"]["mean"] < 0.1 < single["mae"]["mean"]
    assert consensus["s_measure"]["mean"] > single["s_measure"]["mean"]


def test_a_tie_is_background() -> None:
    data = _masks(4, 10, seed=2)
    model = _NoisyCopies(10, flips=(0.0, 1.0))  # the mask and its complement: every pixel ties
    result = sal.saliency_metric(model, data, {"saliency": {"num_samples": 2}})
    # An all-background consensus (constant, so not normalised) errs on the foreground share.
    share = data.test["y"].double().mean(dim=(1, 2, 3))
    assert result["mae"]["mean"] == pytest.approx(float(share.mean()), abs=1e-12)


def test_the_draws_are_seeded_and_leave_the_global_stream_alone() -> None:
    data = _masks(5, 8)
    settings = {"saliency": {"num_samples": 3, "seed": 11}}
    torch.manual_seed(123)
    first = sal.saliency_metric(_NoisyCopies(8, flips=0.3), data, settings)
    after = torch.rand(3)
    torch.manual_seed(123)
    assert torch.equal(torch.rand(3), after)
    second = sal.saliency_metric(_NoisyCopies(8, flips=0.3), data, settings)
    assert first["details"] == second["details"]
    other = sal.saliency_metric(_NoisyCopies(8, flips=0.3), data, {"saliency": {"seed": 12}})
    assert other["details"]["scores"] != first["details"]["scores"]


def test_num_examples_limits_the_images() -> None:
    data = _masks(6, 8)
    model = _NoisyCopies(8, flips=0.1)
    result = sal.saliency_metric(model, data, {"num_examples": 2, "saliency": {"num_samples": 2}})
    assert result["details"]["num_examples"] == 2
    assert sum(d.shape[1] for d in model.drawn) == 2


def test_models_and_tasks_that_do_not_fit_are_skipped() -> None:
    data = _masks(3, 8)
    with pytest.raises(NotApplicableError, match="not a conditional model"):
        sal.saliency_metric(nn.Linear(2, 2), data, {})
    no_masks = TaskData(train={}, val={}, test={"x": data.test["x"]})
    with pytest.raises(NotApplicableError, match="'y'"):
        sal.saliency_metric(_NoisyCopies(8, 0.1), no_masks, {})
    vectors = {"x": torch.zeros(3, 4), "y": torch.zeros(3, 2)}
    with pytest.raises(NotApplicableError, match=r"\(N, 1, H, W\)"):
        sal.saliency_metric(_NoisyCopies(8, 0.1), TaskData(vectors, vectors, vectors), {})
    with pytest.raises(NotApplicableError, match="y_shape"):
        sal.saliency_metric(_NoisyCopies(6, 0.1), data, {})
    with pytest.raises(ValueError, match="valid: num_examples, num_samples, seed"):
        sal.saliency_metric(_NoisyCopies(8, 0.1), data, {"saliency": {"max_examples": 3}})
