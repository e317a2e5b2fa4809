"""A dSprites-style data set rasterised on demand from its factor grid, with the factors kept."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "IMAGE_SIZE",
    "NUM_IMAGES",
    "SHAPE_NAMES",
    "DSprites",
    "classes_to_index",
    "factor_values",
    "index_to_classes",
    "render",
    "sample_factors",
]

#: Factors in the order of the released file's ``latents_classes`` (colour, a constant, left out).
FACTOR_NAMES: tuple[str, ...] = ("shape", "scale", "orientation", "pos_x", "pos_y")
#: Number of values of each factor.
FACTOR_SIZES: tuple[int, ...] = (3, 6, 40, 32, 32)
SHAPE_NAMES: tuple[str, ...] = ("square", "ellipse", "heart")
IMAGE_SIZE = 64
NUM_IMAGES = math.prod(FACTOR_SIZES)  # 737,280

# Geometry of this rasteriser (the released file's renderer is not published): a shape at scale 1
# fits in a circle of _RADIUS pixels, and centres stay _MARGIN pixels from the border, so every
# shape lies inside the 64 x 64 frame with at least one empty pixel around it.
_RADIUS = 10.0
_MARGIN = 11.0
_SQUARE_HALF_SIDE = _RADIUS / math.sqrt(2.0)  # the square's corners touch the circle
_ELLIPSE_AXES = (_RADIUS, _RADIUS / 2.0)  # semi-axes along and across the orientation
# The heart is the curve (x^2 + y^2 - 1)^3 = x^2 y^3, which spans y in [-1, 1.24]; shifted so its
# bounding box is centred, it reaches 1.332 from the centre and is scaled to fit _RADIUS.
_HEART_SHIFT = 0.125
_HEART_UNIT = _RADIUS / 1.34

# Rasterisation window: every shape lies within _RADIUS of its centre, so a _WINDOW-pixel square
# around the centre holds it; the canvas is padded by _PAD pixels so windows never fall off it.
_WINDOW = 24
_PAD = 2
_CANVAS = IMAGE_SIZE + 2 * _PAD

_BASES = tuple(math.prod(FACTOR_SIZES[i + 1 :]) for i in range(len(FACTOR_SIZES)))


def _check_classes(classes: Tensor) -> Tensor:
    if classes.dim() != 2 or classes.shape[1] != len(FACTOR_SIZES):
        raise ValueError(
            f"factor classes must be (N, {len(FACTOR_SIZES)}) integers ordered {FACTOR_NAMES}; "
            f"got shape {tuple(classes.shape)}"
        )
    if classes.is_floating_point():
        raise TypeError(f"factor classes must be integers (class indices), got {classes.dtype}")
    sizes = torch.tensor(FACTOR_SIZES, device=classes.device)
    bad = (classes < 0) | (classes >= sizes)
    if bool(bad.any()):
        row, col = (int(i) for i in bad.nonzero()[0])
        sizes_named = dict(zip(FACTOR_NAMES, FACTOR_SIZES, strict=True))
        raise ValueError(
            f"factor {FACTOR_NAMES[col]!r} of row {row} is {int(classes[row, col])}, outside "
            f"[0, {FACTOR_SIZES[col]}); sizes are {sizes_named}"
        )
    return classes.long()


def factor_values(classes: Tensor) -> Tensor:
    """The published values of each factor class.

    Shape is 1, 2, 3 (square, ellipse, heart); scale ``linspace(0.5, 1, 6)``; orientation
    ``linspace(0, 2 pi, 40)`` in radians, so classes 0 and 39 are the same angle; positions
    ``linspace(0, 1, 32)``.

    Args:
        classes: ``(N, 5)`` integer classes ordered as :data:`FACTOR_NAMES`.

    Returns:
        ``(N, 5)`` float64 values.
    """
    c = _check_classes(classes).double()
    grids = [
        c[:, 0] + 1.0,
        0.5 + 0.1 * c[:, 1],
        c[:, 2] * (2.0 * math.pi / 39.0),
        c[:, 3] / 31.0,
        c[:, 4] / 31.0,
    ]
    return torch.stack(grids, dim=1)


def classes_to_index(classes: Tensor) -> Tensor:
    """Flat index in the released file's order (``pos_y`` varies fastest, then ``pos_x``, ...)."""
    c = _check_classes(classes)
    return (c * torch.tensor(_BASES, device=c.device)).sum(1)


def index_to_classes(index: Tensor) -> Tensor:
    """Inverse of :func:`classes_to_index`: ``(N,)`` flat indices to ``(N, 5)`` classes."""
    index = torch.as_tensor(index).long()
    if bool(((index < 0) | (index >= NUM_IMAGES)).any()):
        raise ValueError(
            f"dSprites indices must lie in [0, {NUM_IMAGES}); got {index.min()}..{index.max()}"
        )
    bases = torch.tensor(_BASES, device=index.device)
    sizes = torch.tensor(FACTOR_SIZES, device=index.device)
    return (index[:, None] // bases) % sizes


def sample_factors(num: int, generator: torch.Generator | None = None) -> Tensor:
    """``(num, 5)`` factor classes drawn independently and uniformly (on the generator's device)."""
    device = generator.device if generator is not None else torch.device("cpu")
    cols = [
        torch.randint(size, (num,), generator=generator, device=device) for size in FACTOR_SIZES
    ]
    return torch.stack(cols, dim=1)


def _inside(shape: int, x: Tensor, y: Tensor, size: Tensor) -> Tensor:
    """Whether shape-frame points ``(x, y)`` (pixels, y up) fall inside a shape of ``size``."""
    if shape == 0:
        return torch.maximum(x.abs(), y.abs()) <= _SQUARE_HALF_SIDE * size
    if shape == 1:
        a, b = _ELLIPSE_AXES
        return (x / (a * size)) ** 2 + (y / (b * size)) ** 2 <= 1.0
    hx = x / (_HEART_UNIT * size)
    hy = y / (_HEART_UNIT * size) + _HEART_SHIFT
    return (hx**2 + hy**2 - 1.0) ** 3 - hx**2 * hy**3 <= 0.0


def _rasterise(classes: Tensor, shape: int, ss: int) -> tuple[Tensor, Tensor]:
    """On/off pixels of a window around each shape, and each window's flat canvas index."""
    device = classes.device
    values = factor_values(classes).float()
    span = IMAGE_SIZE - 2.0 * _MARGIN
    cx = _MARGIN + span * values[:, 3]
    cy = _MARGIN + span * values[:, 4]
    left = torch.floor(cx) - (_WINDOW // 2 - 1)
    top = torch.floor(cy) - (_WINDOW // 2 - 1)
    sub = (torch.arange(_WINDOW * ss, device=device, dtype=torch.float32) + 0.5) / ss
    u = left[:, None, None] + sub[None, None, :]  # column coordinate of each sub-pixel
    v = top[:, None, None] + sub[None, :, None]  # row coordinate
    dx = u - cx[:, None, None]
    dy = cy[:, None, None] - v  # y up
    angle = values[:, 2].view(-1, 1, 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    x = cos * dx + sin * dy  # rotate the frame by -angle: the shape turns by +angle
    y = -sin * dx + cos * dy
    inside = _inside(shape, x, y, values[:, 1].view(-1, 1, 1)).float()
    coverage = inside.view(-1, _WINDOW, ss, _WINDOW, ss).mean(dim=(2, 4))
    offs = torch.arange(_WINDOW, device=device)
    rows = top.long()[:, None] + _PAD + offs
    cols = left.long()[:, None] + _PAD + offs
    flat = (rows[:, :, None] * _CANVAS + cols[:, None, :]).flatten(1)
    return (coverage >= 0.5).float().flatten(1), flat


def render(classes: Tensor, *, supersample: int = 3, chunk: int = 4096) -> Tensor:
    """Rasterise factor tuples into binary 64 x 64 images, vectorised over the batch.

    Each pixel is split into ``supersample**2`` sub-pixels; it is on when at least half of them
    fall inside the shape (an odd ``supersample`` has no ties, so areas are unbiased). A shape of
    scale ``s`` fits in a circle of ``10 s`` pixels about its centre ``(11 + 42 pos_x,
    11 + 42 pos_y)`` (column, row; ``pos_y`` grows downwards), leaving at least one empty pixel at
    every border, and it is turned counter-clockwise on screen by the orientation. The square's
    side is ``14.1 s`` pixels, the ellipse's axes ``20 s`` by ``10 s``. Only a 24 x 24 window
    around each centre is tested, since nothing outside it can be on.

    Args:
        classes: ``(N, 5)`` integer factor classes ordered as :data:`FACTOR_NAMES`.
        supersample: Sub-pixels per pixel side (1 tests pixel centres only).
        chunk: Images rasterised at once, to bound memory.

    Returns:
        ``(N, 1, 64, 64)`` float32 tensor of zeros and ones on ``classes``' device.
    """
    if supersample < 1:
        raise ValueError(f"supersample must be >= 1, got {supersample}")
    classes = _check_classes(classes)
    canvas = torch.zeros(len(classes), _CANVAS * _CANVAS, device=classes.device)
    for start in range(0, len(classes), chunk):
        part = classes[start : start + chunk]
        for shape in range(FACTOR_SIZES[0]):
            rows = (part[:, 0] == shape).nonzero().squeeze(1)
            if len(rows):
                pixels, flat = _rasterise(part[rows], shape, supersample)
                canvas[start + rows] = canvas[start + rows].scatter(1, flat, pixels)
    inner = canvas.view(-1, 1, _CANVAS, _CANVAS)[
        ..., _PAD : _PAD + IMAGE_SIZE, _PAD : _PAD + IMAGE_SIZE
    ]
    return inner.contiguous()


class DSprites:
    """The dSprites factor grid as ground-truth data: sample factors, render their images.

    Follows the published grid of Matthey et al. (2017): shape in {square, ellipse, heart},
    6 scales, 40 orientations in [0, 2 pi] (both ends included), 32 x 32 positions, one image per
    combination (737,280), indexed in the released file's order. The images are rasterised here
    by :func:`render`; they follow the grid but are **not** byte-identical to the released
    ``dsprites_ndarray_...npz`` (its renderer and sprite geometry are not published), so numbers
    measured on it are not comparable to numbers on the released file.

    Args:
        supersample: Sub-pixels per pixel side used by :func:`render`.

    References:
        Matthey, L., Higgins, I., Hassabis, D. and Lerchner, A. "dSprites: Disentanglement testing
        Sprites dataset." https://github.com/deepmind/dsprites-dataset/, 2017.
    """

    factor_names: tuple[str, ...] = FACTOR_NAMES
    factor_sizes: tuple[int, ...] = FACTOR_SIZES
    x_shape: tuple[int, int, int] = (1, IMAGE_SIZE, IMAGE_SIZE)

    def __init__(self, *, supersample: int = 3) -> None:
        self.supersample = supersample

    def __len__(self) -> int:
        return NUM_IMAGES

    @property
    def num_factors(self) -> int:
        return len(self.factor_sizes)

    def sample_factors(self, num: int, generator: torch.Generator | None = None) -> Tensor:
        """``(num, 5)`` classes drawn uniformly from the grid (see :func:`sample_factors`)."""
        return sample_factors(num, generator)

    def observations(self, factors: Tensor) -> Tensor:
        """``(N, 1, 64, 64)`` float images of ``(N, 5)`` factor classes."""
        return render(factors, supersample=self.supersample)

    def images(self, index: Tensor | Sequence[int]) -> Tensor:
        """Images at flat indices of the released file's order, rendered now."""
        return self.observations(index_to_classes(torch.as_tensor(index)))
