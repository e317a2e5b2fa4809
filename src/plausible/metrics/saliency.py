"""Salient-object scores (MAE, S-measure, F-measure, E-measure) and the ``saliency`` suite metric.

Every score compares one prediction map ``pred`` with one ground-truth mask ``gt`` of the same
``(H, W)`` shape, with the conventions of the evaluation code that salient and camouflaged object
detection papers (UC-Net among them) report with: the MATLAB toolbox of Fan et al. and its Python
port ``pysodmetrics``. Our functions take float maps where that code takes 8-bit images:

- ``pred`` holds floats in [0, 1] (an 8-bit image ``u`` corresponds to ``u / 255``). With
  ``normalize=True`` (the convention) it is min-max normalised,
  ``pred <- (pred - min) / (max - min)``, unless it is constant, when it is left as it is.
- ``gt`` is a boolean mask or floats binarised as ``gt > 0.5`` (the 8-bit convention
  ``gt > 128`` agrees on masks in {0, 1}).
- Threshold curves have 256 points: at ``t = 0 ... 255`` a pixel is foreground when
  ``floor(255 * pred) >= t``. The curve is indexed by ascending ``t`` (``pysodmetrics`` stores it
  in descending order, index 0 being ``t = 255``).
- The adaptive threshold is ``min(2 * mean(pred), 1)`` and a pixel is foreground when
  ``pred >= threshold``.
- ``EPS`` is the spacing of 1.0 (2.2e-16), added where the reference code adds MATLAB's ``eps``.

Scores (``P`` the binarised prediction, ``G`` the mask, ``N = H * W`` pixels):

- MAE: ``mean |pred - G|``.
- S-measure (Fan et al., 2017): ``max(0, alpha * S_object + (1 - alpha) * S_region)``, or
  ``1 - mean(pred)`` for an empty mask and ``mean(pred)`` for a full one. ``S_object`` weighs
  ``O(pred[G])`` and ``O(1 - pred[~G])`` by the foreground and background shares, with
  ``O(v) = 2 mean(v) / (mean(v)^2 + 1 + std(v) + EPS)`` (``std`` with ``N - 1``, 0 for one pixel).
  ``S_region`` splits both maps at the mask's centroid (``round`` half to even, as NumPy, plus one
  row and column) into four blocks and sums their area-weighted SSIM
  ``4 m_x m_y s_xy / ((m_x^2 + m_y^2)(s_x^2 + s_y^2) + EPS)`` (1 when numerator and denominator
  vanish, 0 when only the numerator does; variances over ``n - 1 + EPS``). A block of zero area
  has weight 0 and contributes nothing; ``pysodmetrics`` returns NaN there (a centroid that
  rounds to the last row or column), its only difference from these scores.
- F-measure (Achanta et al., 2009): ``(1 + beta2) precision recall / (beta2 precision + recall)``,
  0 when no predicted pixel is in the mask; precision ``|P & G| / |P|``, recall ``|P & G| / |G|``.
- E-measure (Fan et al., 2018): with ``a = P - mean(P)`` and ``b = G - mean(G)`` per pixel,
  ``xi = 2 a b / (a^2 + b^2 + EPS)`` and ``E = sum_pixels (1 + xi)^2 / 4 / (N - 1 + EPS)``. An
  empty mask scores the number of background pixels of ``P`` instead of the sum, a full mask the
  number of foreground pixels. Pixels fall into four groups (TP, FP, FN, TN) with one ``xi``
  each, so the sum is four products.

Over a data set (:class:`SaliencyEvaluator`), MAE, S and the adaptive F and E are means over
images (with their standard errors); max and mean F and E are the maximum and the mean over the
256 thresholds of the per-threshold mean over images, as the reference code reports them.

References:
    Fan, D.-P., Cheng, M.-M., Liu, Y., Li, T. and Borji, A. "Structure-measure: A New Way to
    Evaluate Foreground Maps." ICCV 2017.
    Fan, D.-P., Gong, C., Cao, Y., Ren, B., Cheng, M.-M. and Borji, A. "Enhanced-alignment Measure
    for Binary Foreground Map Evaluation." IJCAI 2018.
    Achanta, R., Hemami, S., Estrada, F. and Süsstrunk, S. "Frequency-tuned Salient Region
    Detection." CVPR 2009.
    Perazzi, F., Krähenbühl, P., Pritch, Y. and Hornung, A. "Saliency Filters: Contrast Based
    Filtering for Salient Region Detection." CVPR 2012.
    Zhang, J., Fan, D.-P., Dai, Y., Anwar, S., Saleh, F. S., Zhang, T. and Barnes, N. "UC-Net:
    Uncertainty Inspired RGB-D Saliency Detection via Conditional Variational Autoencoders."
    CVPR 2020.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch
from numpy.typing import ArrayLike, NDArray
from torch import Tensor, nn

from plausible.data.task_data import TaskData
from plausible.metrics.forecasting import model_device
from plausible.metrics.suite import NotApplicableError, options, suite_metric, summary
from plausible.models.protocols import ConditionalModel

__all__ = [
    "EPS",
    "NUM_THRESHOLDS",
    "SaliencyEvaluator",
    "SaliencyScores",
    "ThresholdScores",
    "e_measure",
    "f_measure",
    "mae",
    "majority_vote",
    "s_measure",
    "saliency_metric",
    "saliency_scores",
]

#: MATLAB's ``eps`` (the spacing of 1.0), as the reference code adds it.
EPS = float(np.spacing(1.0))
#: Thresholds of the F and E curves: ``t = 0 ... 255`` on ``floor(255 * pred)``.
NUM_THRESHOLDS = 256
#: Elements of the ``(C, B, 1, H, W)`` samples drawn at once by the ``saliency`` metric.
_CHUNK_ELEMENTS = 1 << 24

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]


class ThresholdScores(NamedTuple):
    """A score at the adaptive threshold and at each of the 256 fixed thresholds.

    Attributes:
        adaptive: The score of ``pred >= min(2 * mean(pred), 1)``.
        curve: ``(256,)`` the score of ``floor(255 * pred) >= t`` for ``t = 0 ... 255``.
    """

    adaptive: float
    curve: FloatArray


# -- one prediction and its mask -------------------------------------------------------------------
def _prepare(pred: ArrayLike, gt: ArrayLike, normalize: bool) -> tuple[FloatArray, BoolArray]:
    """Validated ``(H, W)`` float64 prediction (normalised when asked) and boolean mask."""
    p = np.asarray(pred)
    g = np.asarray(gt)
    if p.ndim != 2 or p.shape != g.shape:
        raise ValueError(
            f"pred and gt must be (H, W) maps of the same shape, got {p.shape} and {g.shape}"
        )
    if p.size == 0:
        raise ValueError(f"pred and gt are empty maps of shape {p.shape}")
    if not np.issubdtype(p.dtype, np.floating):
        raise TypeError(
            f"pred must hold floats in [0, 1], got dtype {p.dtype}; "
            "pass an 8-bit image as image / 255"
        )
    if not (np.issubdtype(g.dtype, np.floating) or g.dtype == np.bool_):
        raise TypeError(f"gt must be a boolean or float mask, got dtype {g.dtype}")
    p = p.astype(np.float64)
    lo, hi = float(p.min()), float(p.max())
    if not (lo >= 0.0 and hi <= 1.0):  # NaN fails too
        raise ValueError(f"pred must lie in [0, 1], got values in [{lo}, {hi}]")
    if normalize and hi != lo:
        p = (p - lo) / (hi - lo)
    mask = g if g.dtype == np.bool_ else g > 0.5
    return p, mask


def _mae(p: FloatArray, g: BoolArray) -> float:
    return float(np.mean(np.abs(p - g)))


def _object_similarity(v: FloatArray) -> float:
    """``O(v) = 2 mean / (mean^2 + 1 + std + EPS)`` with the ``n - 1`` standard deviation."""
    m = float(v.mean())
    s = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return 2.0 * m / (m * m + 1.0 + s + EPS)


def _ssim(p: FloatArray, g: FloatArray) -> float:
    """The S-measure's SSIM of one block (no stabilising constants, variances over n - 1 + EPS)."""
    n = p.size
    dx, dy = p - p.mean(), g - g.mean()
    var_x = float(np.sum(dx * dx)) / (n - 1 + EPS)
    var_y = float(np.sum(dy * dy)) / (n - 1 + EPS)
    cov = float(np.sum(dx * dy)) / (n - 1 + EPS)
    mx, my = float(p.mean()), float(g.mean())
    num = 4.0 * mx * my * cov
    den = (mx * mx + my * my) * (var_x + var_y)
    if num != 0.0:
        return num / (den + EPS)
    return 1.0 if den == 0.0 else 0.0


def _s_measure(p: FloatArray, g: BoolArray, alpha: float) -> float:
    share = float(g.mean())
    if share == 0.0:
        return 1.0 - float(p.mean())
    if share == 1.0:
        return float(p.mean())
    s_object = share * _object_similarity(p[g]) + (1.0 - share) * _object_similarity(1.0 - p[~g])
    h, w = g.shape
    rows, cols = np.nonzero(g)
    # The centroid's row and column (rounded half to even), plus one: the first block holds
    # rows 0 .. cy-1 and columns 0 .. cx-1, as MATLAB's 1:X holds X.
    cy, cx = int(np.round(rows.mean())) + 1, int(np.round(cols.mean())) + 1
    gf = g.astype(np.float64)
    s_region = 0.0
    for r0, r1 in ((0, cy), (cy, h)):
        for c0, c1 in ((0, cx), (cx, w)):
            area = (r1 - r0) * (c1 - c0)
            if area:  # a block of zero area has weight 0
                s_region += _ssim(p[r0:r1, c0:c1], gf[r0:r1, c0:c1]) * area / (h * w)
    return max(0.0, alpha * s_object + (1.0 - alpha) * s_region)


def _counts_above(p: FloatArray, g: BoolArray) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """``(256,)`` counts of mask and non-mask pixels with ``floor(255 * pred) >= t``."""
    level = (p * 255.0).astype(np.int64)  # truncation = floor on [0, 255]
    inside = np.bincount(level[g], minlength=NUM_THRESHOLDS)
    outside = np.bincount(level[~g], minlength=NUM_THRESHOLDS)
    return inside[::-1].cumsum()[::-1], outside[::-1].cumsum()[::-1]


def _adaptive_counts(p: FloatArray, g: BoolArray) -> tuple[int, int]:
    """TP and FP of ``pred >= min(2 * mean(pred), 1)``."""
    binary = p >= min(2.0 * float(p.mean()), 1.0)
    return int(np.count_nonzero(binary & g)), int(np.count_nonzero(binary & ~g))


def _f_from_counts(tp: Any, fp: Any, num_fg: int, beta2: float) -> FloatArray:
    """F-measure of the counts (arrays or scalars), 0 where ``tp = 0``."""
    tp = np.asarray(tp, dtype=np.float64)
    predicted = tp + np.asarray(fp, dtype=np.float64)
    precision = tp / np.maximum(predicted, 1.0)  # tp = 0 where nothing is predicted
    recall = tp / max(num_fg, 1)
    den = beta2 * precision + recall
    num = (1.0 + beta2) * precision * recall
    return np.divide(num, den, out=np.zeros_like(num), where=tp > 0)


def _e_from_counts(tp: Any, fp: Any, num_fg: int, size: int) -> FloatArray:
    """E-measure of the counts (arrays or scalars): four groups of pixels, one alignment each."""
    tp = np.asarray(tp, dtype=np.float64)
    fp = np.asarray(fp, dtype=np.float64)
    predicted = tp + fp
    if num_fg == 0:
        total = size - predicted
    elif num_fg == size:
        total = predicted
    else:
        fn = num_fg - tp
        tn = size - predicted - fn
        mean_p, mean_g = predicted / size, num_fg / size

        def enhanced(a: Any, b: float) -> Any:
            xi = 2.0 * a * b / (a * a + b * b + EPS)
            return (xi + 1.0) ** 2 / 4.0

        total = (
            tp * enhanced(1.0 - mean_p, 1.0 - mean_g)
            + fp * enhanced(1.0 - mean_p, -mean_g)
            + fn * enhanced(-mean_p, 1.0 - mean_g)
            + tn * enhanced(-mean_p, -mean_g)
        )
    return np.asarray(total / (size - 1 + EPS), dtype=np.float64)


def mae(pred: ArrayLike, gt: ArrayLike, *, normalize: bool = True) -> float:
    """Mean absolute error ``mean |pred - gt|`` (Perazzi et al., 2012).

    Args:
        pred: ``(H, W)`` floats in [0, 1] (numpy array or CPU tensor).
        gt: ``(H, W)`` boolean mask, or floats binarised at 0.5.
        normalize: Min-max normalise ``pred`` first (the convention; a constant map stays).

    Returns:
        The MAE, in [0, 1].
    """
    return _mae(*_prepare(pred, gt, normalize))


def s_measure(
    pred: ArrayLike, gt: ArrayLike, *, alpha: float = 0.5, normalize: bool = True
) -> float:
    """Structure measure (Fan et al., 2017): object- and region-aware similarity.

    Args:
        pred: ``(H, W)`` floats in [0, 1].
        gt: ``(H, W)`` boolean mask, or floats binarised at 0.5.
        alpha: Weight of the object score (the region score has ``1 - alpha``).
        normalize: Min-max normalise ``pred`` first.

    Returns:
        S in [0, 1] (higher is better).
    """
    return _s_measure(*_prepare(pred, gt, normalize), alpha)


def f_measure(
    pred: ArrayLike, gt: ArrayLike, *, beta2: float = 0.3, normalize: bool = True
) -> ThresholdScores:
    """F-measure with ``beta^2 = beta2`` at the adaptive threshold and at 256 thresholds.

    Args:
        pred: ``(H, W)`` floats in [0, 1].
        gt: ``(H, W)`` boolean mask, or floats binarised at 0.5.
        beta2: ``beta^2``, the weight of precision (0.3 by convention).
        normalize: Min-max normalise ``pred`` first.

    Returns:
        The adaptive F and the ``(256,)`` curve (``curve.max()`` and ``curve.mean()`` are the max
        and mean F of this image).
    """
    p, g = _prepare(pred, gt, normalize)
    num_fg = int(np.count_nonzero(g))
    adaptive = float(_f_from_counts(*_adaptive_counts(p, g), num_fg, beta2))
    return ThresholdScores(adaptive, _f_from_counts(*_counts_above(p, g), num_fg, beta2))


def e_measure(pred: ArrayLike, gt: ArrayLike, *, normalize: bool = True) -> ThresholdScores:
    """Enhanced-alignment measure (Fan et al., 2018) at the adaptive threshold and 256 thresholds.

    Args:
        pred: ``(H, W)`` floats in [0, 1].
        gt: ``(H, W)`` boolean mask, or floats binarised at 0.5.
        normalize: Min-max normalise ``pred`` first.

    Returns:
        The adaptive E and the ``(256,)`` curve.
    """
    p, g = _prepare(pred, gt, normalize)
    num_fg = int(np.count_nonzero(g))
    adaptive = float(_e_from_counts(*_adaptive_counts(p, g), num_fg, g.size))
    return ThresholdScores(adaptive, _e_from_counts(*_counts_above(p, g), num_fg, g.size))


# -- a data set ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SaliencyScores:
    """Per-image scores of a data set and its mean F and E curves.

    Attributes:
        mae: ``(N,)`` MAE of each image.
        s_measure: ``(N,)`` S-measure of each image.
        f_adaptive: ``(N,)`` adaptive F of each image.
        e_adaptive: ``(N,)`` adaptive E of each image.
        f_curve: ``(256,)`` F at each threshold, averaged over images.
        e_curve: ``(256,)`` E at each threshold, averaged over images.
    """

    mae: FloatArray
    s_measure: FloatArray
    f_adaptive: FloatArray
    e_adaptive: FloatArray
    f_curve: FloatArray
    e_curve: FloatArray

    @property
    def f_max(self) -> float:
        """Max F: the best threshold of the data set's mean curve."""
        return float(self.f_curve.max())

    @property
    def f_mean(self) -> float:
        """Mean F: the mean over thresholds of the data set's mean curve."""
        return float(self.f_curve.mean())

    @property
    def e_max(self) -> float:
        """Max E: the best threshold of the data set's mean curve."""
        return float(self.e_curve.max())

    @property
    def e_mean(self) -> float:
        """Mean E: the mean over thresholds of the data set's mean curve."""
        return float(self.e_curve.mean())

    def summary(self) -> dict[str, Any]:
        """JSON-ready values: per-image means with standard errors, curve maxima and means."""

        def estimate(values: FloatArray) -> dict[str, float]:
            return summary(torch.from_numpy(values))

        return {
            "mae": estimate(self.mae),
            "s_measure": estimate(self.s_measure),
            "f_max": self.f_max,
            "f_mean": self.f_mean,
            "f_adaptive": estimate(self.f_adaptive),
            "e_max": self.e_max,
            "e_mean": self.e_mean,
            "e_adaptive": estimate(self.e_adaptive),
        }


class SaliencyEvaluator:
    """Scores of a data set fed in batches of ``(B, H, W)`` maps (image sizes may differ by batch).

    Args:
        alpha: The S-measure's object weight.
        beta2: The F-measure's ``beta^2``.
        normalize: Min-max normalise each prediction first.
    """

    def __init__(self, *, alpha: float = 0.5, beta2: float = 0.3, normalize: bool = True) -> None:
        self.alpha = alpha
        self.beta2 = beta2
        self.normalize = normalize
        self._rows: list[tuple[float, float, float, float]] = []
        self._f_curves: list[FloatArray] = []
        self._e_curves: list[FloatArray] = []

    def __len__(self) -> int:
        return len(self._rows)

    def update(self, preds: ArrayLike, gts: ArrayLike) -> None:
        """Score a batch.

        Args:
            preds: ``(B, H, W)`` (or one ``(H, W)``) floats in [0, 1].
            gts: Masks of the same shape (boolean, or floats binarised at 0.5).
        """
        ps, gs = np.asarray(preds), np.asarray(gts)
        if ps.ndim == 2:
            ps, gs = ps[None], gs[None]
        if ps.ndim != 3 or ps.shape != gs.shape:
            raise ValueError(
                f"preds and gts must be (B, H, W) of the same shape, got {ps.shape} and {gs.shape}"
            )
        for pred, gt in zip(ps, gs, strict=True):
            p, g = _prepare(pred, gt, self.normalize)
            num_fg = int(np.count_nonzero(g))
            tp, fp = _adaptive_counts(p, g)
            tps, fps = _counts_above(p, g)
            self._rows.append(
                (
                    _mae(p, g),
                    _s_measure(p, g, self.alpha),
                    float(_f_from_counts(tp, fp, num_fg, self.beta2)),
                    float(_e_from_counts(tp, fp, num_fg, g.size)),
                )
            )
            self._f_curves.append(_f_from_counts(tps, fps, num_fg, self.beta2))
            self._e_curves.append(_e_from_counts(tps, fps, num_fg, g.size))

    def scores(self) -> SaliencyScores:
        """The scores of every image seen so far."""
        if not self._rows:
            raise ValueError("no image scored yet; call update(preds, gts) first")
        table = np.asarray(self._rows, dtype=np.float64)
        return SaliencyScores(
            mae=table[:, 0],
            s_measure=table[:, 1],
            f_adaptive=table[:, 2],
            e_adaptive=table[:, 3],
            f_curve=np.mean(self._f_curves, axis=0),
            e_curve=np.mean(self._e_curves, axis=0),
        )


def saliency_scores(
    preds: ArrayLike,
    gts: ArrayLike,
    *,
    alpha: float = 0.5,
    beta2: float = 0.3,
    normalize: bool = True,
) -> SaliencyScores:
    """Every saliency score of ``(N, H, W)`` predictions against ``(N, H, W)`` masks.

    Args:
        preds: ``(N, H, W)`` floats in [0, 1].
        gts: ``(N, H, W)`` masks (boolean, or floats binarised at 0.5).
        alpha: The S-measure's object weight.
        beta2: The F-measure's ``beta^2``.
        normalize: Min-max normalise each prediction first.
    """
    evaluator = SaliencyEvaluator(alpha=alpha, beta2=beta2, normalize=normalize)
    evaluator.update(preds, gts)
    return evaluator.scores()


# -- the suite metric ------------------------------------------------------------------------------
def majority_vote(samples: Tensor) -> Tensor:
    """UC-Net's consensus of C probability maps: binarise each at 0.5, keep the strict majority.

    A pixel is foreground when more than half of the C maps exceed 0.5 (``2 * votes > C``); a tie
    (``votes = C / 2`` for even C) is background.

    Args:
        samples: ``(C, ...)`` foreground probabilities.

    Returns:
        ``(...)`` float mask in {0, 1}, the dtype of ``samples``.
    """
    votes = (samples > 0.5).sum(dim=0)
    return (2 * votes > samples.shape[0]).to(samples.dtype)


def _dense_test_split(model: nn.Module, data: TaskData, n: int) -> tuple[Tensor, Tensor]:
    """The first ``n`` test inputs and masks, after checking that the metric applies."""
    if not isinstance(model, ConditionalModel):
        raise NotApplicableError(
            f"{type(model).__name__} is not a conditional model (sample(x, S, mean)); saliency "
            "scores dense predictions of p(y|x)"
        )
    if "x" not in data.test or "y" not in data.test:
        raise NotApplicableError(
            f"saliency needs a dense task with test 'x' and 'y' (test keys: {sorted(data.test)})"
        )
    x, y = data.test["x"][: n or None], data.test["y"][: n or None]
    if x.dim() != 4 or y.dim() != 4 or y.shape[1] != 1 or x.shape[2:] != y.shape[2:]:
        raise NotApplicableError(
            f"saliency needs images x (N, C, H, W) and masks y (N, 1, H, W), got x "
            f"{tuple(x.shape)} and y {tuple(y.shape)}"
        )
    if tuple(model.y_shape) != tuple(y.shape[1:]):
        raise NotApplicableError(
            f"the model's y_shape {tuple(model.y_shape)} is not the task's mask shape "
            f"{tuple(y.shape[1:])}"
        )
    return x, y


_DIRECTIONS = {"mae": "lower", "s_measure": "higher", "f_max": "higher", "e_max": "higher"}


@suite_metric(
    "saliency",
    "salient-object scores (MAE, S, max F, max E) of one draw, the mean and UC-Net's majority vote",
    directions=_DIRECTIONS,
)
def saliency_metric(model: nn.Module, data: TaskData, settings: dict[str, Any]) -> dict[str, Any]:
    """The ``saliency`` suite metric on the first test images of a dense task.

    For each image it draws C = ``num_samples`` probability maps ``model.sample(x, C, mean=True)``
    (one seeded stream, in chunks of a size fixed by C and the image size, so the same seed gives
    the same maps) and scores three predictions against the test mask ``y``: ``single``, the
    first map; ``mean``, the mean of the C maps; ``consensus``, the majority vote of the C maps
    binarised at 0.5 (:func:`majority_vote`, ties are background). Every map is min-max
    normalised as the reference code does; float maps are scored directly, with no rounding to
    8-bit images. The headline holds the consensus scores; ``details["scores"]`` holds all three.

    Settings: ``num_samples`` (10), ``num_examples`` (500; 0 for all), ``seed`` (0).
    """
    opts = options(settings, "saliency", {"num_samples": 10, "num_examples": 500, "seed": 0})
    c = int(opts["num_samples"])
    if c < 1:
        raise ValueError(f"evaluation.saliency.num_samples must be at least 1, got {c}")
    x, y = _dense_test_split(model, data, int(opts["num_examples"]))
    assert isinstance(model, ConditionalModel)  # checked above; narrows the type
    height, width = y.shape[2:]
    chunk = max(1, _CHUNK_ELEMENTS // (c * height * width))
    evaluators = {name: SaliencyEvaluator() for name in ("single", "mean", "consensus")}
    device = model_device(model)
    was_training = model.training
    model.eval()
    try:
        with (
            torch.no_grad(),
            torch.random.fork_rng(devices=[device] if device.type == "cuda" else []),
        ):
            torch.manual_seed(int(opts["seed"]))
            for start in range(0, len(x), chunk):
                xc = x[start : start + chunk]
                maps = model.sample(xc.to(device), c, mean=True)
                expected = (c, len(xc), 1, height, width)
                if tuple(maps.shape) != expected:
                    raise ValueError(
                        f"{type(model).__name__}.sample returned {tuple(maps.shape)} for {c} "
                        f"samples of {len(xc)} images; expected (S, B, 1, H, W) = {expected}"
                    )
                maps = maps.detach().to("cpu", torch.float64)[:, :, 0]
                gt = y[start : start + chunk, 0].cpu().numpy()
                evaluators["single"].update(maps[0].numpy(), gt)
                evaluators["mean"].update(maps.mean(dim=0).numpy(), gt)
                evaluators["consensus"].update(majority_vote(maps).numpy(), gt)
    finally:
        model.train(was_training)
    results = {name: ev.scores().summary() for name, ev in evaluators.items()}
    consensus = results["consensus"]
    return {
        **{key: consensus[key] for key in _DIRECTIONS},
        "settings": opts,
        "details": {
            "scores": results,
            "num_examples": len(x),
            "num_samples": c,
            "conventions": (
                "pysodmetrics' conventions on float maps: min-max normalised predictions, masks "
                "> 0.5, adaptive threshold min(2 mean, 1), F with beta^2 = 0.3 and E over "
                "floor(255 pred) >= t for t = 0..255; max/mean F and E of the per-threshold "
                "mean over images; S with alpha = 0.5"
            ),
        },
    }
