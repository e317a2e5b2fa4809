"""Segmentation when graders disagree: the generalized energy distance, Hungarian-matched IoU,
IoU and pixel accuracy, and per-pixel uncertainty.

All distances between masks are ``d(a, b) = 1 - IoU(a, b)`` with ``IoU = |a ∩ b| / |a ∪ b|``, and
two empty masks agree perfectly: ``IoU(∅, ∅) = 1``, ``d(∅, ∅) = 0``, the convention of PHiSeg
(Baumgartner et al., 2019) and MoSE (Gao et al., 2023); an empty mask against a non-empty one has
IoU 0. With it ``1 - d`` is the Tanimoto kernel, which is positive definite, so the energy
distance below is never negative.

For K sampled masks ``S`` of an image and its graders' masks ``Y`` with probabilities ``p``, the
squared generalized energy distance (GED) is

    D²_GED = 2 E[d(S, Y)] - E[d(S, S')] - E[d(Y, Y')],

with ``S, S'`` independent and uniform over the K samples and ``Y, Y'`` independent draws of the
graders' law. The expectations run over all pairs, ``i = j`` included (a pair of a mask with
itself adds 0). Kohl et al. (2018) report this squared form, D²_GED; so do we. It is 0 exactly
when the samples' frequencies equal the law's. The Hungarian-matched IoU (HM-IoU, Kohl et al.,
2019) matches the K samples one to one with the graders' masks repeated to K and averages the
IoU of the matched pairs.

References:
    Kohl, S. et al. "A Probabilistic U-Net for Segmentation of Ambiguous Images." NeurIPS 2018.
    Kohl, S. et al. "A Hierarchical Probabilistic U-Net for Modeling Multi-Scale Ambiguities."
    arXiv:1905.13077, 2019.
    Baumgartner, C. et al. "PHiSeg: Capturing Uncertainty in Medical Image Segmentation."
    MICCAI 2019.
    Gao, Z. et al. "Modeling Multimodal Aleatoric Uncertainty in Segmentation with Mixture of
    Stochastic Experts." ICLR 2023.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from plausible.data.annotators import largest_remainder_counts
from plausible.data.task_data import TaskData
from plausible.metrics.forecasting import model_device
from plausible.metrics.saliency import majority_vote
from plausible.metrics.suite import NotApplicableError, options, suite_metric, summary
from plausible.models.protocols import ConditionalModel

__all__ = [
    "EnergyDistance",
    "PixelUncertainty",
    "ambiguous_segmentation_metric",
    "generalized_energy_distance",
    "hungarian_matched_iou",
    "iou",
    "iou_distance",
    "mask_scores",
    "pairwise_iou_distance",
    "pixel_accuracy",
    "pixel_uncertainty",
    "sample_masks",
    "segmentation_metric",
    "vote_scores",
]

#: Inputs whose masks are drawn at once (bounds memory at K * chunk masks).
_CHUNK = 64


# -- masks and distances --------------------------------------------------------------------------
def _binary(mask: Tensor, name: str) -> Tensor:
    """``mask`` as bool, after checking that it holds only 0 and 1."""
    if mask.dtype == torch.bool:
        return mask
    if not bool(((mask == 0) | (mask == 1)).all()):
        raise ValueError(
            f"{name} must be binary masks (bool or values 0 and 1); binarise probabilities first "
            "(p > 0.5)"
        )
    return mask != 0


def iou_distance(a: Tensor, b: Tensor) -> Tensor:
    """``1 - IoU`` of binary masks, pair by pair (empty vs empty: IoU 1, distance 0).

    Args:
        a: ``(..., H, W)`` binary masks.
        b: ``(..., H, W)`` binary masks, broadcastable against ``a``.

    Returns:
        ``(...)`` float64 distances in ``[0, 1]``.
    """
    return 1.0 - iou(a, b)


def iou(pred: Tensor, gt: Tensor) -> Tensor:
    """Intersection over union of binary masks, per mask (empty vs empty: 1).

    Args:
        pred: ``(..., H, W)`` binary masks.
        gt: ``(..., H, W)`` binary masks, broadcastable against ``pred``.

    Returns:
        ``(...)`` float64 IoU in ``[0, 1]``.
    """
    a, b = _binary(pred, "pred"), _binary(gt, "gt")
    inter = (a & b).sum((-2, -1)).double()
    union = (a | b).sum((-2, -1)).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def pixel_accuracy(pred: Tensor, gt: Tensor) -> Tensor:
    """Share of pixels where two binary masks agree, per mask.

    Args:
        pred: ``(..., H, W)`` binary masks.
        gt: ``(..., H, W)`` binary masks, broadcastable against ``pred``.

    Returns:
        ``(...)`` float64 accuracy in ``[0, 1]``.
    """
    a, b = _binary(pred, "pred"), _binary(gt, "gt")
    return (a == b).double().mean((-2, -1))


def _pairwise(a: Tensor, b: Tensor) -> Tensor:
    """``(..., M, N)`` float64 ``1 - IoU`` of bool masks ``a`` ``(..., M, P)`` and ``b``
    ``(..., N, P)``, each a row of P pixels (empty vs empty: 0; equal masks: exactly 0)."""
    fa, fb = a.double(), b.double()
    inter = fa @ fb.transpose(-1, -2)  # exact pixel counts in float64
    union = fa.sum(-1)[..., :, None] + fb.sum(-1)[..., None, :] - inter
    overlap = torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))
    return 1.0 - overlap


def pairwise_iou_distance(a: Tensor, b: Tensor) -> Tensor:
    """``1 - IoU`` between every mask of ``a`` and every mask of ``b`` (empty vs empty: 0).

    Args:
        a: ``(M, ...)`` binary masks (everything after the first axis is one mask).
        b: ``(N, ...)`` binary masks of the same size.

    Returns:
        ``(M, N)`` float64 distances; identical masks are exactly 0 apart.
    """
    if a.shape[1:] != b.shape[1:] or a.dim() < 2:
        raise ValueError(
            f"pairwise_iou_distance expects masks (M, ...) and (N, ...) of one size, got "
            f"{tuple(a.shape)} and {tuple(b.shape)}"
        )
    fa = _binary(a, "a").reshape(len(a), -1)
    fb = _binary(b, "b").reshape(len(b), -1)
    return _pairwise(fa, fb)


def _check_law(samples: Tensor, annotations: Tensor, probs: Tensor, who: str) -> Tensor:
    """The probabilities as float64 ``(A,)``, after checking the shapes against each other."""
    if samples.dim() < 2 or annotations.dim() != samples.dim() or probs.dim() != 1:
        raise ValueError(
            f"{who} expects samples (K, ...), annotations (A, ...) and probs (A,) of one image; "
            f"got {tuple(samples.shape)}, {tuple(annotations.shape)} and {tuple(probs.shape)}"
        )
    if samples.shape[1:] != annotations.shape[1:] or len(probs) != len(annotations):
        raise ValueError(
            f"{who}: samples {tuple(samples.shape)}, annotations {tuple(annotations.shape)} and "
            f"probs {tuple(probs.shape)} disagree (masks of one size, one probability per "
            "annotation)"
        )
    p = probs.detach().double().cpu()
    if bool((p < 0).any()) or abs(float(p.sum()) - 1.0) > 1e-5:
        raise ValueError(f"{who}: probs must be >= 0 and sum to 1, got {p.tolist()}")
    return p


def _energy(samples: Tensor, annotations: Tensor, probs: Tensor) -> dict[str, Tensor]:
    """The GED's terms for B images at once.

    Args:
        samples: ``(B, K, P)`` bool masks.
        annotations: ``(B, A, P)`` bool masks.
        probs: ``(B, A)`` float64.

    Returns:
        ``"ged"``, ``"cross"``, ``"sample_diversity"``, ``"annotation_diversity"``: ``(B,)``;
        ``"d_sy"``: ``(B, K, A)`` the distances between samples and annotations.
    """
    k = samples.shape[1]
    z = torch.cat([samples, annotations], 1)  # (B, M, P)
    d = _pairwise(z, z)  # (B, M, M)
    # Equal masks pool their weights on the first of them (the diagonal is 0, so one exists):
    # frequencies equal to the law then give a weight difference of exactly 0.
    first = (d == 0).to(torch.uint8).argmax(-1)  # (B, M)
    raw_s = torch.zeros(z.shape[:2], dtype=torch.float64)
    raw_s[:, :k] = 1.0
    raw_y = torch.zeros(z.shape[:2], dtype=torch.float64)
    raw_y[:, k:] = probs
    w_s = torch.zeros_like(raw_s).scatter_add_(1, first, raw_s) / k  # counts / K, exactly
    w_y = torch.zeros_like(raw_y).scatter_add_(1, first, raw_y)

    def quad(u: Tensor, v: Tensor) -> Tensor:
        return torch.einsum("bi,bij,bj->b", u, d, v)

    delta = w_s - w_y
    return {
        "ged": (-quad(delta, delta)).clamp_min(0.0) + 0.0,  # + 0.0 turns -0.0 into 0.0
        "cross": quad(w_s, w_y),
        "sample_diversity": quad(w_s, w_s),
        "annotation_diversity": quad(w_y, w_y),
        "d_sy": d[:, :k, k:],
        "d_yy": d[:, k:, k:],
    }


def _nearest_shares(d_sy: Tensor, d_yy: Tensor, probs: Tensor) -> tuple[Tensor, Tensor]:
    """How often the samples follow each annotation, against the annotations' probabilities.

    Each sample is credited to the annotation nearest to it (largest IoU). Equal annotations are
    one mask: their probabilities pool on the first of them, and so do the samples' credits; a
    sample equally near several different masks splits its credit between them equally.

    Args:
        d_sy: ``(B, K, A)`` distances between samples and annotations.
        d_yy: ``(B, A, A)`` distances between annotations.
        probs: ``(B, A)`` float64.

    Returns:
        ``(shares, tv)``: ``(B, A)`` float64 share of the K samples nearest each annotation
        (0 on an annotation that repeats an earlier one), and ``(B,)`` the total variation
        distance ``½ Σ_a |share_a − law_a|`` between those shares and the pooled probabilities.
    """
    b, k, a = d_sy.shape
    first = (d_yy == 0).to(torch.uint8).argmax(-1)  # (B, A): the first annotation equal to a
    nearest = (d_sy == d_sy.min(-1, keepdim=True).values).double()  # (B, K, A)
    pooled = torch.zeros_like(nearest).scatter_reduce_(
        2, first[:, None, :].expand(b, k, a), nearest, "amax"
    )
    shares = (pooled / pooled.sum(-1, keepdim=True)).mean(1)  # (B, A)
    law = torch.zeros_like(probs).scatter_add_(1, first, probs)
    return shares, 0.5 * (shares - law).abs().sum(-1)


class EnergyDistance(NamedTuple):
    """The squared generalized energy distance and its three expectations (all in [0, 1] units
    of ``1 - IoU``, floats).

    Attributes:
        ged: ``D²_GED = 2 cross - sample_diversity - annotation_diversity`` (squared form).
        cross: ``E[d(S, Y)]``.
        sample_diversity: ``E[d(S, S')]`` over all K² pairs of samples.
        annotation_diversity: ``E[d(Y, Y')]`` under the graders' law.
    """

    ged: float
    cross: float
    sample_diversity: float
    annotation_diversity: float


def generalized_energy_distance(
    samples: Tensor, annotations: Tensor, probs: Tensor
) -> EnergyDistance:
    """Squared generalized energy distance between K sampled masks and the graders' law.

    ``S`` is uniform over the K samples, ``Y`` takes the annotation ``a`` with probability
    ``probs[a]``; every expectation runs over all pairs, a mask paired with itself included.
    Equal masks are merged first (they pool their weights ``w_S`` and ``w_Y``) and
    ``D²_GED = -(w_S - w_Y)ᵀ D (w_S - w_Y)``, which is exactly 0 when the samples' frequencies
    equal the probabilities (rounding below 0 is clipped to 0).

    Args:
        samples: ``(K, ...)`` binary masks of one image (``(K, H, W)`` or ``(K, 1, H, W)``).
        annotations: ``(A, ...)`` the graders' binary masks of that image.
        probs: ``(A,)`` the probability of each annotation (sums to 1).

    Returns:
        :class:`EnergyDistance` (D²_GED and its three terms).
    """
    p = _check_law(samples, annotations, probs, "generalized_energy_distance")
    s = _binary(samples, "samples").detach().cpu().reshape(1, len(samples), -1)
    y = _binary(annotations, "annotations").detach().cpu().reshape(1, len(annotations), -1)
    terms = _energy(s, y, p[None])
    return EnergyDistance(**{key: float(terms[key][0]) for key in EnergyDistance._fields})


def _matched_iou(d_sy: Tensor, probs: Tensor) -> Tensor:
    """``(B,)`` HM-IoU from the sample-annotation distances ``(B, K, A)`` and probs ``(B, A)``."""
    from scipy.optimize import linear_sum_assignment  # scipy comes with scikit-learn

    b, k, _ = d_sy.shape
    counts = largest_remainder_counts(probs, k)  # (B, A)
    # Column j of the repeated set is annotation a where cumsum(counts)[a-1] <= j < cumsum[a].
    slots = torch.arange(k).expand(b, k).contiguous()
    cols = torch.searchsorted(counts.cumsum(-1), slots, right=True)  # (B, K)
    overlap = (1.0 - d_sy.gather(2, cols[:, None, :].expand(b, k, k))).numpy()  # (B, K, K)
    out = torch.empty(b, dtype=torch.float64)
    for i, matrix in enumerate(overlap):
        rows, picked = linear_sum_assignment(matrix, maximize=True)
        out[i] = float(matrix[rows, picked].mean())
    return out


def hungarian_matched_iou(samples: Tensor, annotations: Tensor, probs: Tensor) -> float:
    """Mean IoU of the K samples matched one to one with the annotations repeated to K masks.

    Kohl et al. (2019) repeat the graders' masks until there are as many as samples; with
    unequal probabilities we repeat annotation ``a`` by the largest-remainder quota of
    ``probs[a] * K`` (:func:`~plausible.data.annotators.largest_remainder_counts`), which is
    their rule when the graders are equally likely and K a multiple of their number. The matching
    maximises the total IoU (``scipy.optimize.linear_sum_assignment``); empty vs empty has IoU 1.

    Args:
        samples: ``(K, ...)`` binary masks of one image.
        annotations: ``(A, ...)`` the graders' binary masks.
        probs: ``(A,)`` the probability of each annotation.

    Returns:
        The HM-IoU in ``[0, 1]``.
    """
    p = _check_law(samples, annotations, probs, "hungarian_matched_iou")
    s = _binary(samples, "samples").detach().cpu().reshape(len(samples), -1)
    y = _binary(annotations, "annotations").detach().cpu().reshape(len(annotations), -1)
    return float(_matched_iou(_pairwise(s, y)[None], p[None])[0])


# -- per-pixel uncertainty ------------------------------------------------------------------------
class PixelUncertainty(NamedTuple):
    """Per-pixel uncertainty of K sampled probability maps, each ``(B, 1, H, W)``.

    Attributes:
        predictive_entropy: ``H[mean_k p_k]`` in nats (total uncertainty).
        expected_entropy: ``mean_k H[p_k]`` in nats (the part each sample already holds).
        mutual_information: Their difference, in nats (what the samples disagree on).
        mask_variance: Variance across the K samples of the binarised masks ``p_k > 0.5``
            (divided by K): ``m (1 - m)`` for the share ``m`` of masks that are foreground.
    """

    predictive_entropy: Tensor
    expected_entropy: Tensor
    mutual_information: Tensor
    mask_variance: Tensor


def _binary_entropy(p: Tensor) -> Tensor:
    """Entropy in nats of Bernoulli(p), with ``0 log 0 = 0``."""
    return -(torch.special.xlogy(p, p) + torch.special.xlogy(1 - p, 1 - p))


def pixel_uncertainty(probs_samples: Tensor) -> PixelUncertainty:
    """Predictive entropy, expected entropy, mutual information and mask variance per pixel.

    Args:
        probs_samples: ``(K, B, 1, H, W)`` foreground probabilities of K samples (any shape
            ``(K, ...)`` works), in ``[0, 1]``.

    Returns:
        :class:`PixelUncertainty`, each ``(B, 1, H, W)`` (the input's shape without K), in the
        input's floating dtype (float32 for other inputs). The mutual information is clipped
        at 0 against rounding (it is never negative: entropy is concave).
    """
    if probs_samples.dim() < 2:
        raise ValueError(
            f"probs_samples must be (K, B, 1, H, W) per-pixel probabilities of K samples, got "
            f"{tuple(probs_samples.shape)}"
        )
    p = probs_samples if probs_samples.is_floating_point() else probs_samples.float()
    if not bool(((p >= 0) & (p <= 1)).all()):
        raise ValueError("probs_samples must be probabilities in [0, 1] (apply a sigmoid first)")
    predictive = _binary_entropy(p.mean(0))
    expected = _binary_entropy(p).mean(0)
    share = (p > 0.5).to(p.dtype).mean(0)
    return PixelUncertainty(
        predictive_entropy=predictive,
        expected_entropy=expected,
        mutual_information=(predictive - expected).clamp_min(0),
        mask_variance=share * (1 - share),
    )


# -- samples of a model ---------------------------------------------------------------------------
@torch.no_grad()
def sample_masks(model: nn.Module, x: Tensor, num_samples: int, *, seed: int) -> Tensor:
    """K binarised masks per image: ``model.sample(x, K, mean=True) > 0.5``.

    Args:
        model: A :class:`~plausible.models.protocols.ConditionalModel` whose samples are
            per-pixel foreground probabilities.
        x: ``(B, *x_shape)`` images.
        num_samples: K.
        seed: Seed of the global random stream, which is restored afterwards; the images are
            drawn in fixed chunks of 64, so the same seed gives the same masks.

    Returns:
        ``(K, B, *y_shape)`` bool masks on the CPU.
    """
    if not isinstance(model, ConditionalModel):
        raise TypeError(f"{type(model).__name__} is not a conditional model (sample(x, S, mean))")
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    device = model_device(model)
    was_training = model.training
    model.eval()
    out = []
    try:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed)
            for start in range(0, len(x), _CHUNK):
                xc = x[start : start + _CHUNK]
                probs = model.sample(xc.to(device), num_samples, mean=True)
                expected = (num_samples, len(xc), *model.y_shape)
                if tuple(probs.shape) != expected:
                    raise ValueError(
                        f"{type(model).__name__}.sample returned {tuple(probs.shape)} for "
                        f"{num_samples} samples of {len(xc)} images; expected {expected}"
                    )
                out.append((probs > 0.5).cpu())
    finally:
        model.train(was_training)
    return torch.cat(out, 1)


def _test_images(
    model: nn.Module, data: TaskData, n: int, keys: tuple[str, ...], metric: str
) -> list[Tensor]:
    """The first ``n`` test examples' tensors under ``keys`` (all for ``n = 0``), or
    :class:`NotApplicableError` when the task or the model does not suit ``metric``."""
    missing = [k for k in ("x", *keys) if k not in data.test]
    if missing:
        raise NotApplicableError(
            f"{metric} needs {missing} in the test split (it has {sorted(data.test)})"
        )
    if not isinstance(model, ConditionalModel):
        raise NotApplicableError(
            f"{type(model).__name__} is not a conditional model: it cannot sample masks"
        )
    picked = [data.test[k][: n or None] for k in ("x", *keys)]
    masks = picked[1]
    if masks.dim() < 3 or not bool(((masks == 0) | (masks == 1)).all()):
        raise NotApplicableError(
            f"{metric} scores binary image masks (values 0 and 1); the test split's "
            f"{keys[0]!r} has shape {tuple(masks.shape)} and {masks.unique().numel()} distinct "
            "values"
        )
    return picked


# -- the suite metrics ----------------------------------------------------------------------------
@suite_metric(
    "ambiguous-segmentation",
    "K sampled masks against every grader's mask: GED (squared, 1 - IoU) and Hungarian-matched IoU",
    directions={"ged": "lower", "hm_iou": "higher", "frequency_tv": "lower"},
)
def ambiguous_segmentation_metric(
    model: nn.Module, data: TaskData, settings: dict[str, Any]
) -> dict[str, Any]:
    """The ``ambiguous-segmentation`` suite metric on the first test images with annotations.

    Draws K masks per image (:func:`sample_masks`: ``model.sample(x, K, mean=True) > 0.5``)
    and reports, as mean and standard error over images, the squared GED and the HM-IoU against
    the image's graders' masks and probabilities, the samples' own diversity ``E[d(S, S')]``
    and the law's ``E[d(Y, Y')]``.
    """
    opts = options(
        settings, "ambiguous-segmentation", {"num_samples": 16, "num_examples": 500, "seed": 0}
    )
    x, annotations, probs = _test_images(
        model,
        data,
        int(opts["num_examples"]),
        ("annotations", "annotation_probs"),
        "ambiguous-segmentation",
    )
    k = int(opts["num_samples"])
    masks = sample_masks(model, x, k, seed=int(opts["seed"]))
    flat_a = annotations.reshape(*annotations.shape[:2], -1) != 0  # (N, A, P)
    probs = probs.double()
    parts: dict[str, list[Tensor]] = {}
    for start in range(0, len(x), _CHUNK):
        rows = slice(start, start + _CHUNK)
        s = masks[:, rows].reshape(k, len(flat_a[rows]), -1).transpose(0, 1)  # (B, K, P)
        terms = _energy(s, flat_a[rows], probs[rows])
        d_sy, d_yy = terms.pop("d_sy"), terms.pop("d_yy")
        terms["hm_iou"] = _matched_iou(d_sy, probs[rows])
        terms["nearest_share"], terms["frequency_tv"] = _nearest_shares(d_sy, d_yy, probs[rows])
        for key, value in terms.items():
            parts.setdefault(key, []).append(value)
    per_image = {key: torch.cat(values) for key, values in parts.items()}
    return {
        "ged": summary(per_image["ged"]),
        "hm_iou": summary(per_image["hm_iou"]),
        "sample_diversity": summary(per_image["sample_diversity"]),
        "annotation_diversity": summary(per_image["annotation_diversity"]),
        "frequency_tv": summary(per_image["frequency_tv"]),
        "settings": opts,
        "details": {
            "num_examples": len(x),
            # Meaningful where an annotation's index means the same grader in every image.
            "nearest_share": per_image["nearest_share"].mean(0).tolist(),
            "annotation_probs": probs.mean(0).tolist(),
            "num_annotations": int(annotations.shape[1]),
            "cross_distance": summary(per_image["cross"]),
            "distance": "d = 1 - IoU; two empty masks have IoU 1 (d = 0)",
            "ged": (
                "D²_GED = 2 E[d(S,Y)] - E[d(S,S')] - E[d(Y,Y')], the squared form, S uniform "
                "over the K masks, Y by the annotation probabilities, all pairs (i = j too)"
            ),
            "hm_iou": (
                "annotations repeated to K masks by largest-remainder quotas of probs * K, "
                "matched one to one with the samples by maximal total IoU"
            ),
            "frequency_tv": (
                "total variation between the share of samples nearest each annotation (by IoU; "
                "equal annotations pooled, ties split) and the annotation probabilities, per image"
            ),
            "masks": f"model.sample(x, {k}, mean=True) > 0.5",
        },
    }


def mask_scores(pred: Tensor, y: Tensor) -> dict[str, Tensor]:
    """Per-image IoU and pixel accuracy of predicted masks against reference masks.

    Args:
        pred: ``(N, *y_shape)`` binary predicted masks.
        y: ``(N, *y_shape)`` binary reference masks.

    Returns:
        ``iou`` and ``pixel_accuracy``, each ``(N,)``, over all pixels of each image.
    """
    flat = (len(y), 1, -1)  # one row of all pixels per image
    pred, gt = pred.reshape(flat), y.reshape(flat)
    return {"iou": iou(pred, gt), "pixel_accuracy": pixel_accuracy(pred, gt)}


def vote_scores(
    model: nn.Module, x: Tensor, y: Tensor, num_samples: int, *, seed: int
) -> dict[str, Tensor]:
    """Per-image IoU and pixel accuracy of the majority vote of K sampled masks, and of the
    first sample alone.

    Args:
        model: A conditional model whose samples are per-pixel foreground probabilities.
        x: ``(N, *x_shape)`` images.
        y: ``(N, *y_shape)`` binary reference masks.
        num_samples: K.
        seed: Seed of the draws (see :func:`sample_masks`).

    Returns:
        ``iou``, ``pixel_accuracy``, ``iou_single``, ``pixel_accuracy_single``, each ``(N,)``.
    """
    masks = sample_masks(model, x, num_samples, seed=seed)
    vote = majority_vote(masks)  # (N, *y_shape); a tie is background
    single = mask_scores(masks[0], y)
    return {
        **mask_scores(vote, y),
        "iou_single": single["iou"],
        "pixel_accuracy_single": single["pixel_accuracy"],
    }


@suite_metric(
    "segmentation",
    "IoU and pixel accuracy of the majority vote of K sampled masks (and of one sample) vs test y",
    directions={
        "iou": "higher",
        "pixel_accuracy": "higher",
        "iou_single": "higher",
        "pixel_accuracy_single": "higher",
    },
)
def segmentation_metric(
    model: nn.Module, data: TaskData, settings: dict[str, Any]
) -> dict[str, Any]:
    """The ``segmentation`` suite metric: one predicted mask per image against the test ``y``.

    The prediction is the pixel-wise majority vote of K binarised samples (foreground where
    more than half of them are; a tie is background); a deterministic model gives K equal masks,
    so its vote is its mask. ``iou_single`` and ``pixel_accuracy_single`` score the first sample
    alone. IoU pools all pixels of an image (empty vs empty: 1).
    """
    opts = options(settings, "segmentation", {"num_samples": 16, "num_examples": 500, "seed": 0})
    x, y = _test_images(model, data, int(opts["num_examples"]), ("y",), "segmentation")
    k = int(opts["num_samples"])
    out = {
        key: summary(values)
        for key, values in vote_scores(model, x, y, k, seed=int(opts["seed"])).items()
    }
    details: dict[str, Any] = {
        "num_examples": len(x),
        "prediction": (
            f"pixel-wise majority of model.sample(x, {k}, mean=True) > 0.5 (ties: background); "
            "*_single: the first sample"
        ),
        "iou": "over all pixels of an image; two empty masks have IoU 1",
    }
    if "annotations" in data.test:
        details["reference"] = "test y is one grader's mask drawn from the annotation law"
    return {**out, "settings": opts, "details": details}
