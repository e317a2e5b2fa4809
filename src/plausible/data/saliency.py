"""RGB-D saliency from a seed: tinted items on a textured background; the nearest one is salient.

Each example composites ``num_objects`` grey item images (Fashion-MNIST items in practice),
resized to ``object_size x object_size`` pixels and tinted with random colours, at random
non-overlapping places on a smooth random colour texture with pixel noise. A fourth channel holds
a synthetic depth map: the background is far (between 0.85 and 1, a ramp in a random direction)
and each object lies at its own constant depth in ``[0.15, 0.7]``. The *nearest* object is the
salient one. Colours, textures and places are drawn independently of the depths, so only the
depth channel tells which object is salient.

The consensus mask ``y`` is the salient object's silhouette (its resized item ``> 0.1``) **by
construction**; it is not a vote over the pseudo-annotations. Each of the ``A`` pseudo-annotators
marks the salient object, except that with probability ``flip`` (independently per annotator and
example) it marks the second-nearest object instead, and its boundary is jittered: a one-pixel
erosion, no change or a one-pixel dilation (3 x 3 square), each with probability 1/3. With
``flip < 0.5`` the annotators agree with ``y`` in expectation, but a single example's majority may
not. The split's ``annotation_probs`` weigh the ``A`` masks equally.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "BACKGROUND_DEPTH",
    "OBJECT_DEPTH",
    "SILHOUETTE_THRESHOLD",
    "jitter_masks",
    "make_depth_saliency",
    "resize_items",
    "silhouettes",
]

#: A resized item pixel belongs to the object's silhouette when its grey level exceeds this.
SILHOUETTE_THRESHOLD = 0.1
#: Range of the background depth (a linear ramp across the image in a random direction).
BACKGROUND_DEPTH = (0.85, 1.0)
#: Range of the objects' depths; each object gets its own band, so depths never tie.
OBJECT_DEPTH = (0.15, 0.7)

_NOISE = 0.03  # standard deviation of the pixel noise added to the RGB channels
_TEXTURE_CELLS = 4  # the background colour texture is a bilinear upsampling of a 4 x 4 grid
_PLACEMENT_TRIES = 200  # rejection rounds before the remaining examples fall back to a grid


def resize_items(items: Tensor, object_size: int = 14) -> Tensor:
    """Resize grey item images to ``object_size x object_size`` pixels.

    Items at least ``object_size`` pixels high and wide are shrunk by area averaging (for 28 x 28
    items and ``object_size = 14`` exactly a 2 x 2 average pool); smaller items (e.g. 8 x 8
    digits) are enlarged by bilinear interpolation (half-pixel centres, edges clamped).

    Args:
        items: ``(M, H, W)`` grey images with values in ``[0, 1]``.
        object_size: Side of the resized items, in pixels.

    Returns:
        ``(M, object_size, object_size)`` float32 images, still in ``[0, 1]``.
    """
    if items.dim() != 3:
        raise ValueError(f"items must be (M, H, W) grey images, got shape {tuple(items.shape)}")
    if isinstance(object_size, bool) or int(object_size) != object_size or object_size < 1:
        raise ValueError(f"object_size must be an integer >= 1 pixel, got {object_size!r}")
    side = int(object_size)
    batch = items.float()[:, None]
    if min(items.shape[1:]) >= side:
        out = F.interpolate(batch, size=(side, side), mode="area")
    else:
        out = F.interpolate(batch, size=(side, side), mode="bilinear", align_corners=False)
    return out[:, 0].clamp(0.0, 1.0)


def silhouettes(items: Tensor) -> Tensor:
    """``(..., H, W)`` float masks in ``{0, 1}``: where items exceed ``SILHOUETTE_THRESHOLD``."""
    return (items > SILHOUETTE_THRESHOLD).float()


def _square_max(masks: Tensor, *, outside: float) -> Tensor:
    """Maximum over each pixel's 3 x 3 square, with ``outside`` beyond the border (separable)."""
    padded = F.pad(masks, (1, 1, 1, 1), value=outside)
    rows = torch.maximum(
        torch.maximum(padded[..., :-2, :], padded[..., 1:-1, :]), padded[..., 2:, :]
    )
    return torch.maximum(torch.maximum(rows[..., :-2], rows[..., 1:-1]), rows[..., 2:])


def jitter_masks(masks: Tensor, jitter: Tensor) -> Tensor:
    """Move mask boundaries by one pixel: erode (``-1``), keep (``0``) or dilate (``+1``).

    Dilation and erosion use the 3 x 3 square; pixels outside the image count as neither inside
    nor outside (they never erode a mask at the border). An erosion that would empty a mask leaves
    it unchanged, so every jittered mask keeps at least one pixel of a non-empty mask.

    Args:
        masks: ``(..., H, W)`` float masks in ``{0, 1}``.
        jitter: Integers in ``{-1, 0, 1}`` with the shape of ``masks``' leading dimensions.

    Returns:
        The jittered masks, ``(..., H, W)`` float in ``{0, 1}``.
    """
    if jitter.shape != masks.shape[:-2] or bool(((jitter < -1) | (jitter > 1)).any()):
        raise ValueError(
            f"jitter must hold -1, 0 or 1 for each of the masks {tuple(masks.shape[:-2])}; got "
            f"shape {tuple(jitter.shape)}"
        )
    dilated = _square_max(masks, outside=0.0)
    eroded = -_square_max(-masks, outside=-1.0)
    emptied = eroded.flatten(-2).sum(-1) == 0
    eroded = torch.where(emptied[..., None, None], masks, eroded)
    j = jitter[..., None, None]
    return torch.where(j > 0, dilated, torch.where(j < 0, eroded, masks))


def _check_args(
    items: Tensor,
    num_examples: int,
    size: int,
    object_size: int,
    num_objects: int,
    num_annotators: int,
    flip: float,
) -> None:
    if not isinstance(items, Tensor) or items.dim() != 3 or items.shape[0] < 1:
        shape = tuple(items.shape) if isinstance(items, Tensor) else type(items).__name__
        raise ValueError(
            f"items must be a (M, H, W) tensor of M >= 1 grey item images (e.g. Fashion-MNIST's "
            f"(M, 28, 28)); got {shape}"
        )
    if not items.is_floating_point() or not bool(torch.isfinite(items).all()):
        raise ValueError("items must be finite floating-point images; scale uint8 images by 1/255")
    lo, hi = float(items.min()), float(items.max())
    if lo < 0.0 or hi > 1.0:
        raise ValueError(f"items must lie in [0, 1], got values in [{lo:.3g}, {hi:.3g}]")
    for name, value, least in (
        ("num_examples", num_examples, 1),
        ("object_size", object_size, 1),
        ("num_annotators", num_annotators, 1),
    ):
        if isinstance(value, bool) or int(value) != value or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, got {value!r}")
    if isinstance(num_objects, bool) or int(num_objects) != num_objects or num_objects < 2:
        raise ValueError(
            f"num_objects must be an integer >= 2 (depth picks the salient object among several "
            f"and the ambiguous annotators mark the second nearest), got {num_objects!r}"
        )
    if isinstance(size, bool) or int(size) != size:
        raise ValueError(f"size must be an integer number of pixels, got {size!r}")
    per_side = int(size) // int(object_size)
    if per_side * per_side < num_objects:
        raise ValueError(
            f"a {size!r} x {size!r} image cannot hold {num_objects} non-overlapping "
            f"{object_size} x {object_size} objects (at most {max(per_side, 0) ** 2} such squares "
            "fit); raise size or lower object_size or num_objects"
        )
    if not 0.0 <= float(flip) <= 1.0:
        raise ValueError(f"flip is a probability and must be in [0, 1], got {flip}")


def _overlapping(top: Tensor, left: Tensor, side: int) -> Tensor:
    """``(N,)``: whether any two of an example's ``side``-square boxes overlap."""
    rows = (top[:, :, None] - top[:, None, :]).abs() < side
    cols = (left[:, :, None] - left[:, None, :]).abs() < side
    clash = rows & cols
    clash &= ~torch.eye(top.shape[1], dtype=torch.bool)
    return clash.flatten(1).any(1)


def _place(num: int, objects: int, size: int, side: int, g: torch.Generator) -> Tensor:
    """``(N, O, 2)`` top-left corners of non-overlapping ``side``-square boxes in the image.

    Boxes are drawn uniformly and redrawn for the examples where two overlap (so each example is
    a uniform draw among the non-overlapping layouts); examples still clashing after a number of
    rounds fall back to distinct cells of a grid, at a random offset within each cell.
    """
    span = size - side + 1
    top = torch.randint(span, (num, objects), generator=g)
    left = torch.randint(span, (num, objects), generator=g)
    for _ in range(_PLACEMENT_TRIES):
        bad = _overlapping(top, left, side)
        count = int(bad.sum())
        if count == 0:
            break
        top[bad] = torch.randint(span, (count, objects), generator=g)
        left[bad] = torch.randint(span, (count, objects), generator=g)
    bad = _overlapping(top, left, side)
    count = int(bad.sum())
    if count:
        per_side = size // side
        cell = size // per_side
        slot = torch.rand(count, per_side * per_side, generator=g).argsort(1)[:, :objects]
        offset = torch.randint(cell - side + 1, (2, count, objects), generator=g)
        top[bad] = (slot // per_side) * cell + offset[0]
        left[bad] = (slot % per_side) * cell + offset[1]
    return torch.stack([top, left], -1)


def _paste(patches: Tensor, corners: Tensor, size: int) -> Tensor:
    """Put ``(N, O, s, s)`` patches at ``(N, O, 2)`` corners of ``(N, O, size, size)`` zeros."""
    n, o, s, _ = patches.shape
    canvas = patches.new_zeros(n, o, size, size)
    offsets = torch.arange(s)
    rows = (corners[..., 0, None] + offsets)[..., :, None].expand(n, o, s, s)
    cols = (corners[..., 1, None] + offsets)[..., None, :].expand(n, o, s, s)
    ex = torch.arange(n).view(n, 1, 1, 1).expand(n, o, s, s)
    ob = torch.arange(o).view(1, o, 1, 1).expand(n, o, s, s)
    canvas[ex, ob, rows, cols] = patches
    return canvas


def _background(num: int, size: int, g: torch.Generator) -> tuple[Tensor, Tensor]:
    """``(N, 3, H, W)`` smooth colour texture and ``(N, H, W)`` far depth ramp."""
    coarse = torch.rand(num, 3, _TEXTURE_CELLS, _TEXTURE_CELLS, generator=g)
    texture = F.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=True)
    angle = 2 * math.pi * torch.rand(num, generator=g)
    cos, sin = torch.cos(angle), torch.sin(angle)
    grid = torch.linspace(-1.0, 1.0, size)
    along = cos.view(-1, 1, 1) * grid.view(1, 1, -1) + sin.view(-1, 1, 1) * grid.view(1, -1, 1)
    ramp = (along / (cos.abs() + sin.abs()).view(-1, 1, 1) + 1) / 2  # in [0, 1]
    near, far = BACKGROUND_DEPTH
    return texture, far - (far - near) * ramp.clamp(0.0, 1.0)


def make_depth_saliency(
    items: Tensor,
    num_examples: int,
    *,
    size: int = 32,
    seed: int = 0,
    num_objects: int = 2,
    num_annotators: int = 5,
    flip: float = 0.1,
    object_size: int = 14,
) -> dict[str, Any]:
    """Draw an RGB-D saliency set with pseudo-annotations from a seed.

    Args:
        items: ``(M, H0, W0)`` grey item images in ``[0, 1]`` (Fashion-MNIST's ``(M, 28, 28)``
            in practice); each must keep a non-empty silhouette once resized.
        num_examples: Examples ``N``.
        size: Height and width ``H = W`` of the images, pixels.
        seed: Seed of everything drawn (one ``torch.Generator``).
        num_objects: Objects per image ``O`` (>= 2); the nearest is salient.
        num_annotators: Pseudo-annotations ``A`` per example.
        flip: Probability that a pseudo-annotator marks the second-nearest object instead.
        object_size: Side of the resized items, pixels (14 halves 28 x 28 items; smaller items
            are enlarged, see :func:`resize_items`).

    Returns:
        ``"x"``: ``(N, 4, H, W)`` float32 RGB + depth in ``[0, 1]`` (smaller depth is nearer);
        ``"y"``: ``(N, 1, H, W)`` float32 in ``{0, 1}``, the nearest object's silhouette;
        ``"annotations"``: ``(N, A, 1, H, W)`` float32 in ``{0, 1}``;
        ``"annotation_probs"``: ``(N, A)`` float32, all ``1 / A``;
        ``"items"``: ``(N, O)`` int64 index into ``items`` of each object, nearest first;
        ``"depths"``: ``(N, O)`` float32 depth of each object, nearest first (increasing);
        ``"corners"``: ``(N, O, 2)`` int64 top-left ``(row, column)`` of each object's
        ``object_size`` square, nearest first;
        ``"flipped"``: ``(N, A)`` bool, whether the annotator marked the second-nearest object;
        ``"jitter"``: ``(N, A)`` int64 boundary jitter, ``-1`` erosion, ``0`` none, ``1``
        dilation.

    Raises:
        ValueError: For items that are not ``(M, H0, W0)`` in ``[0, 1]``, items whose resized
            silhouette is empty, fewer than 2 objects, an image too small to hold the objects
            without overlap, or a ``flip`` outside ``[0, 1]``.
    """
    _check_args(items, num_examples, size, object_size, num_objects, num_annotators, flip)
    n, o, a, s, side = (
        int(num_examples),
        int(num_objects),
        int(num_annotators),
        int(size),
        int(object_size),
    )
    small = resize_items(items.detach().cpu(), side)
    empty = (silhouettes(small).flatten(1).sum(1) == 0).nonzero().flatten()
    if len(empty):
        raise ValueError(
            f"{len(empty)} item(s) have no pixel above {SILHOUETTE_THRESHOLD} once resized to "
            f"{side} x {side} (indices {empty[:8].tolist()}); drop blank items or raise object_size"
        )
    g = torch.Generator().manual_seed(int(seed))
    chosen = torch.randint(len(small), (n, o), generator=g)
    corners = _place(n, o, s, side, g)
    tints = torch.rand(n, o, 3, generator=g)
    texture, far = _background(n, s, g)
    # Object k gets the depth band of its rank; the ranks are a random permutation per example.
    rank = torch.rand(n, o, generator=g).argsort(1)
    low, high = OBJECT_DEPTH
    depth = low + (high - low) * (rank + 0.2 + 0.6 * torch.rand(n, o, generator=g)) / o
    noise = _NOISE * torch.randn(n, 3, s, s, generator=g)
    flipped = torch.rand(n, a, generator=g) < float(flip)
    jitter = torch.randint(-1, 2, (n, a), generator=g)

    alpha = _paste(small[chosen], corners, s)  # (N, O, H, W), disjoint supports
    support = silhouettes(alpha)
    rgb = texture
    for k in range(o):
        ak = alpha[:, k, None]
        rgb = (1 - ak) * rgb + ak * tints[:, k, :, None, None]
    rgb = (rgb + noise).clamp(0.0, 1.0)
    depth_map = torch.where(support.bool(), depth[:, :, None, None], far[:, None]).amin(
        1
    )  # supports are disjoint; elsewhere every object slot holds the background

    order = depth.argsort(1)  # nearest first
    rows = torch.arange(n)[:, None]
    nearest_first = support[rows, order]  # (N, O, H, W)
    marked = nearest_first[rows, flipped.long()]  # (N, A, H, W): rank 0 or rank 1
    annotations = jitter_masks(marked, jitter)
    return {
        "x": torch.cat([rgb, depth_map[:, None]], 1).float(),
        "y": nearest_first[:, :1].float(),
        "annotations": annotations[:, :, None].float(),
        "annotation_probs": torch.full((n, a), 1.0 / a),
        "items": chosen[rows, order],
        "depths": depth[rows, order].float(),
        "corners": corners[rows, order],
        "flipped": flipped,
        "jitter": jitter,
    }
