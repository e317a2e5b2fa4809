"""Tensors to pictures for the explorer: image shapes, channel order, and imagined-pixel tints."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from torch import Tensor

__all__ = ["UNOBSERVED", "hwc", "image_shape", "tinted"]

#: The quadrant task's marker of unobserved input pixels.
UNOBSERVED = -1.0
_BACKGROUND = np.array([24, 32, 58], np.float32)  # unobserved / imagined pixels: dark slate
_IMAGINED = np.array([255, 200, 110], np.float32)  # ink of imagined pixels: amber


def image_shape(numel: int, *candidates: Sequence[int] | None) -> tuple[int, int, int] | None:
    """``(C, H, W)`` of the first candidate shape holding ``numel`` values, else a square guess.

    Args:
        numel: Number of values of one picture.
        *candidates: Shapes to try in order (the model's, then the task's); ``None`` is skipped.

    Returns:
        ``(C, H, W)``, or ``None`` when the values do not form a picture.
    """
    # Imported here: matplotlib, which viz loads, is slow to import and the explorer of a
    # density model never needs it.
    from plausible.viz._common import infer_image_shape

    for candidate in candidates:
        if candidate is None:
            continue
        shape = tuple(int(s) for s in candidate)
        if math.prod(shape) != numel:
            continue
        guess = infer_image_shape(shape)
        if guess is not None:
            return guess
    return infer_image_shape((numel,))


def hwc(image: Tensor, shape: Sequence[int]) -> np.ndarray:
    """A flat or ``(C, H, W)`` tensor -> ``(H, W)`` or ``(H, W, 3)`` float array."""
    arr = image.detach().float().cpu().reshape(tuple(shape)).numpy()
    return arr[0] if shape[0] == 1 else arr.transpose(1, 2, 0)


def tinted(
    image: Tensor, imagined: Tensor, shape: Sequence[int], *, hidden: bool = False
) -> np.ndarray:
    """Grey pixels as they are; imagined (or ``hidden``) pixels on a dark slate background.

    Args:
        image: ``(C, H, W)`` values in [0, 1] (clamped here).
        imagined: ``(C, H, W)`` mask of the pixels the model imagined.
        shape: ``(C, H, W)``.
        hidden: Paint the imagined pixels as an empty slate instead of amber ink.

    Returns:
        ``(H, W, 3)`` uint8 RGB.
    """
    grey = hwc(image.clamp(0, 1), shape)
    mask = hwc(imagined.float(), shape) > 0.5
    if grey.ndim == 3:
        grey, mask = grey.mean(-1), np.asarray(mask.any(-1))
    rgb = np.repeat(grey[..., None] * 255.0, 3, axis=-1)
    ink = np.zeros_like(grey) if hidden else grey
    tint = _BACKGROUND + ink[..., None] * (_IMAGINED - _BACKGROUND)
    rgb[mask] = tint[mask]
    return rgb.astype(np.uint8)
