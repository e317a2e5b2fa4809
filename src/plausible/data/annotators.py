"""Disks segmented by several graders who disagree, with the exact law of a grader's mask.

Each image shows one grey disk on a noisy background. Four graders segment it differently, in
the spirit of the lesions of LIDC-IDRI that several radiologists outline: a tight mask (the disk
shrunk to 0.7 of its radius), a generous one (1.25 of its radius), one that adds a thin tail
running from the centre to the right, and an empty mask (the grader saw no object). The target
``y`` of an example is one grader's mask drawn with probabilities ``probs``, so the law of ``y``
given ``x`` is exactly the categorical over the four masks; :class:`AnnotationSampler` samples
that law behind the conditional-model interface, and it is what an ideal model would learn.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn

__all__ = [
    "VARIANT_NAMES",
    "AnnotationSampler",
    "largest_remainder_counts",
    "make_annotated_shapes",
    "resample_annotations",
]

#: The graders' masks, in the order of ``annotations`` and ``annotation_probs``.
VARIANT_NAMES: tuple[str, ...] = ("small", "large", "tail", "empty")

#: Radii of the small and large masks relative to the disk's.
_SMALL, _LARGE = 0.7, 1.25
#: The tail: pixels whose centre lies within this many pixels of the centre's row, from the
#: centre to ``_TAIL_LENGTH`` radii to its right (so it sticks out by one radius).
_TAIL_HALF_WIDTH, _TAIL_LENGTH = 1.0, 2.0
#: Grey level of the disk in the image (the background's mean is 0).
_DISK_LEVEL = 0.5


def largest_remainder_counts(probs: Tensor, total: int) -> Tensor:
    """Split ``total`` items among categories in proportion to ``probs`` (Hamilton's method).

    Each category gets ``floor(p * total)``; the items left go one each to the categories with
    the largest remainders ``p * total - floor(p * total)``, ties to the lower index. The counts
    equal ``p * total`` exactly whenever those are integers.

    Args:
        probs: ``(..., A)`` non-negative probabilities, each row summing to 1.
        total: Items to split, >= 0.

    Returns:
        ``(..., A)`` int64 counts, each row summing to ``total``.
    """
    if total < 0:
        raise ValueError(f"total must be >= 0, got {total}")
    if probs.dim() < 1 or bool((probs < 0).any()) or bool(((probs.sum(-1) - 1).abs() > 1e-5).any()):
        raise ValueError(
            f"probs must be (..., A) non-negative rows summing to 1, got shape "
            f"{tuple(probs.shape)} with row sums {probs.sum(-1).flatten()[:4].tolist()}"
        )
    quota = probs.double() * int(total)
    counts = quota.floor()
    left = (int(total) - counts.sum(-1, keepdim=True)).round().long()  # (..., 1)
    order = torch.sort(quota - counts, dim=-1, descending=True, stable=True).indices
    positions = torch.arange(order.shape[-1], device=order.device).expand_as(order)
    rank = torch.empty_like(order).scatter_(-1, order, positions)  # rank of each remainder
    return counts.long() + (rank < left).long()


def _check_probs(probs: Sequence[float]) -> Tensor:
    p = torch.as_tensor(probs, dtype=torch.float64)
    if p.shape != (len(VARIANT_NAMES),):
        raise ValueError(
            f"probs must hold {len(VARIANT_NAMES)} probabilities, one per grader mask "
            f"{VARIANT_NAMES}, got {tuple(probs)}"
        )
    if not bool(torch.isfinite(p).all()) or bool((p <= 0).any()):
        raise ValueError(
            f"every grader mask needs a positive probability, got {tuple(probs)}; give each "
            "variant a share above 0"
        )
    if abs(float(p.sum()) - 1.0) > 1e-6:
        raise ValueError(f"probs must sum to 1, got {tuple(probs)} (sum {float(p.sum())})")
    return p


def make_annotated_shapes(
    num_examples: int,
    *,
    size: int = 32,
    seed: int = 0,
    probs: Sequence[float] = (0.375, 0.25, 0.25, 0.125),
    noise: float = 0.1,
    texture: float = 0.05,
) -> dict[str, Tensor]:
    """Draw images of disks with every grader's mask and one drawn target mask.

    The disk's radius is uniform in ``[max(1.5, 0.12 size), max(1.5, 0.12 size, 0.2 size)]``
    pixels and its centre uniform where the large mask and the tail stay inside the image. A
    pixel ``(i, j)`` has its centre at ``(i + 0.5, j + 0.5)`` and lies in a disk when that point
    does. The image is ``0.5`` on the disk, plus a faint plane wave of amplitude ``texture``
    (random direction, wavelength ``size / 4``, random phase) and i.i.d. ``N(0, noise^2)``.

    Args:
        num_examples: Images ``N``.
        size: Height and width ``H = W`` in pixels, >= 8.
        seed: Seed of everything drawn.
        probs: Probability of each mask of :data:`VARIANT_NAMES` (all positive, summing to 1).
        noise: Standard deviation of the pixel noise, >= 0.
        texture: Amplitude of the background's plane wave, >= 0.

    Returns:
        ``{"x"``: ``(N, 1, H, W)`` float32 images, ``"annotations"``: ``(N, 4, 1, H, W)`` float32
        masks in {0, 1} in the order of :data:`VARIANT_NAMES`, ``"annotation_probs"``: ``(N, 4)``
        float32 (``probs`` on every row), ``"y"``: ``(N, 1, H, W)`` the drawn mask,
        ``"variant"``: ``(N,)`` int64 index of the drawn mask, ``"disk"``: ``(N, 1, H, W)`` the
        disk that the image shows, ``"centre"``: ``(N, 2)`` float64 its centre (row, column) and
        ``"radius"``: ``(N,)`` float64 its radius, in pixels``}``.

    Raises:
        ValueError: ``num_examples < 1``, ``size < 8``, bad ``probs``, negative ``noise`` or
            ``texture``.
    """
    if isinstance(num_examples, bool) or int(num_examples) != num_examples or num_examples < 1:
        raise ValueError(f"num_examples must be an integer >= 1, got {num_examples!r}")
    if isinstance(size, bool) or int(size) != size or size < 8:
        raise ValueError(
            f"size must be an integer >= 8 pixels (smaller images cannot hold the small mask), "
            f"got {size!r}"
        )
    p = _check_probs(probs)
    for name, value in (("noise", noise), ("texture", texture)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be a finite number >= 0, got {value}")
    n, size = int(num_examples), int(size)
    g = torch.Generator().manual_seed(int(seed))
    r_lo = max(1.5, 0.12 * size)
    r_hi = max(r_lo, 0.2 * size)
    radius = r_lo + (r_hi - r_lo) * torch.rand(n, generator=g, dtype=torch.float64)
    # The large mask must fit vertically, and the tail (2 radii to the right) horizontally.
    cy = _LARGE * radius + (size - 2 * _LARGE * radius) * torch.rand(
        n, generator=g, dtype=torch.float64
    )
    cx = _LARGE * radius + (size - (_LARGE + _TAIL_LENGTH) * radius) * torch.rand(
        n, generator=g, dtype=torch.float64
    )
    angle = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    phase = 2 * math.pi * torch.rand(n, generator=g, dtype=torch.float64)
    pixel_noise = torch.randn(n, 1, size, size, generator=g, dtype=torch.float64)
    variant = torch.multinomial(p.expand(n, -1), 1, generator=g)[:, 0]

    centres = torch.arange(size, dtype=torch.float64) + 0.5
    dy = centres[None, :, None] - cy[:, None, None]  # (N, H, 1)
    dx = centres[None, None, :] - cx[:, None, None]  # (N, 1, W)
    dist2 = dy**2 + dx**2  # (N, H, W)
    r = radius[:, None, None]
    disk = dist2 <= r**2
    tail = (dy.abs() <= _TAIL_HALF_WIDTH) & (dx >= 0) & (dx <= _TAIL_LENGTH * r)
    masks = torch.stack(
        [
            dist2 <= (_SMALL * r) ** 2,
            dist2 <= (_LARGE * r) ** 2,
            disk | tail,
            torch.zeros_like(disk),
        ],
        1,
    )[:, :, None].float()  # (N, 4, 1, H, W)

    wave = 2 * math.pi / (size / 4)
    along = (
        torch.cos(angle)[:, None, None] * centres[None, :, None]
        + torch.sin(angle)[:, None, None] * centres[None, None, :]
    )
    background = texture * torch.sin(wave * along + phase[:, None, None])
    x = _DISK_LEVEL * disk.double()[:, None] + background[:, None] + noise * pixel_noise
    return {
        "x": x.float(),
        "annotations": masks,
        "annotation_probs": p.float().expand(n, -1).clone(),
        "y": masks[torch.arange(n), variant],
        "variant": variant,
        "disk": disk[:, None].float(),
        "centre": torch.stack([cy, cx], -1),
        "radius": radius,
    }


def resample_annotations(batch: dict[str, Tensor], generator: torch.Generator) -> dict[str, Tensor]:
    """A training transform: each example's ``y`` becomes a fresh draw of its graders' law.

    Fits :class:`~plausible.data.batching.TensorBatcher`'s ``transform``, so every epoch sees
    other graders' masks for the same images.

    Args:
        batch: Holds ``"annotations"`` ``(B, A, *y_shape)`` and ``"annotation_probs"``
            ``(B, A)``; ``"y"`` is replaced, and ``"variant"`` too when the batch has it.
        generator: Source of the draws, on the device of ``annotation_probs``.

    Returns:
        A new dict: ``batch`` with ``"y"`` ``(B, *y_shape)`` the drawn masks (and ``"variant"``
        ``(B,)`` their indices, where ``batch`` has that key).
    """
    missing = [k for k in ("annotations", "annotation_probs") if k not in batch]
    if missing:
        raise KeyError(
            f"resample_annotations needs {missing} in the batch (keys: {sorted(batch)}); use it "
            "only on splits with every grader's mask"
        )
    annotations, probs = batch["annotations"], batch["annotation_probs"]
    if probs.dim() != 2 or annotations.shape[:2] != probs.shape:
        raise ValueError(
            f"annotations (B, A, ...) and annotation_probs (B, A) disagree: "
            f"{tuple(annotations.shape)} and {tuple(probs.shape)}"
        )
    variant = torch.multinomial(probs, 1, generator=generator)[:, 0]
    rows = torch.arange(len(variant), device=variant.device)
    out = {**batch, "y": annotations[rows, variant]}
    if "variant" in batch:
        out["variant"] = variant
    return out


class AnnotationSampler(nn.Module):
    """The exact law of a grader's mask behind the conditional-model interface.

    It stores a split's images with all their graders' masks and, for an input image, returns
    masks drawn from that image's graders. It has no parameters; scored like a trained model, it
    shows the value every metric takes for the true law (ambiguous-segmentation metrics: GED 0
    and HM-IoU 1 with stratified draws whose quotas are integers).

    Args:
        x: ``(N, *x_shape)`` the images the sampler knows.
        annotations: ``(N, A, *y_shape)`` every grader's mask of each image.
        probs: ``(N, A)`` probability of each mask (rows sum to 1).
        stratified: Allocate the S draws of an example by the largest-remainder quotas of
            ``probs * S`` (:func:`largest_remainder_counts`) in a random order, so that mask
            frequencies equal ``probs`` exactly when the quotas are integers; otherwise draw S
            i.i.d. masks.
    """

    images: Tensor
    annotations: Tensor
    probs: Tensor

    def __init__(
        self, x: Tensor, annotations: Tensor, probs: Tensor, *, stratified: bool = True
    ) -> None:
        super().__init__()
        if annotations.dim() < 3 or annotations.shape[:2] != probs.shape or len(x) != len(probs):
            raise ValueError(
                "AnnotationSampler needs x (N, ...), annotations (N, A, ...) and probs (N, A); "
                f"got {tuple(x.shape)}, {tuple(annotations.shape)} and {tuple(probs.shape)}"
            )
        p = probs.double()
        if bool((p < 0).any()) or bool(((p.sum(-1) - 1).abs() > 1e-5).any()):
            raise ValueError("annotation probabilities must be >= 0 with rows summing to 1")
        self.x_shape = tuple(int(s) for s in x.shape[1:])
        self.y_shape = tuple(int(s) for s in annotations.shape[2:])
        self.stratified = bool(stratified)
        # Buffers (not saved): they follow .to(device), and they tell model_device where to draw.
        self.register_buffer("images", x.detach().clone(), persistent=False)
        self.register_buffer("annotations", annotations.detach().float().clone(), persistent=False)
        self.register_buffer("probs", probs.detach().float().clone(), persistent=False)
        rows = self.images.cpu().reshape(len(x), -1).numpy()
        self._index: dict[bytes, int] = {}
        for i, row in enumerate(rows):
            self._index.setdefault(row.tobytes(), i)  # a repeated image keeps its first row

    @classmethod
    def from_split(
        cls, split: Mapping[str, Tensor], *, stratified: bool = True
    ) -> AnnotationSampler:
        """The sampler of a split holding ``"x"``, ``"annotations"`` and ``"annotation_probs"``."""
        missing = [k for k in ("x", "annotations", "annotation_probs") if k not in split]
        if missing:
            raise KeyError(f"the split lacks {missing} (keys: {sorted(split)})")
        return cls(
            split["x"], split["annotations"], split["annotation_probs"], stratified=stratified
        )

    def find(self, x: Tensor) -> Tensor:
        """``(B,)`` int64 row of each input image among the stored ones (bit-for-bit equal).

        Raises:
            ValueError: wrong shape, or inputs the sampler does not know (it says how many).
        """
        if tuple(x.shape[1:]) != self.x_shape:
            raise ValueError(
                f"AnnotationSampler expects images (B, {', '.join(map(str, self.x_shape))}), got "
                f"{tuple(x.shape)}"
            )
        query = x.detach().to("cpu", self.images.dtype)
        exact = (query.to(x.dtype) == x.detach().cpu()).reshape(len(x), -1).all(-1)
        rows = query.reshape(len(x), -1).numpy()
        found = [
            self._index.get(row.tobytes(), -1) if ok else -1
            for row, ok in zip(rows, exact.tolist(), strict=True)
        ]
        missing = sum(i < 0 for i in found)
        if missing:
            raise ValueError(
                f"{missing} of {len(x)} input images are not among the {len(self._index)} images "
                "this AnnotationSampler was built from; build it from the split you sample"
            )
        return torch.tensor(found, dtype=torch.long, device=self.images.device)

    @torch.no_grad()
    def sample(self, x: Tensor, num_samples: int, *, mean: bool = False) -> Tensor:
        """``(S, B, *y_shape)`` float masks drawn from each image's graders.

        ``mean`` changes nothing: a grader's mask is the mean of its point mass. Draws come from
        torch's global generator (on the stored tensors' device), so ``torch.manual_seed``
        reproduces them.
        """
        if num_samples < 1:
            raise ValueError(f"num_samples must be >= 1, got {num_samples}")
        rows = self.find(x)
        probs = self.probs[rows]  # (B, A)
        s = int(num_samples)
        if self.stratified:
            counts = largest_remainder_counts(probs, s)  # (B, A) on the CPU
            a = probs.shape[-1]
            sorted_variants = torch.repeat_interleave(
                torch.arange(a).repeat(len(rows)), counts.flatten().cpu()
            ).reshape(len(rows), s)
            order = torch.rand(len(rows), s, device=probs.device).argsort(-1).cpu()
            variant = sorted_variants.gather(-1, order).to(probs.device)  # (B, S)
        else:
            variant = torch.multinomial(probs, s, replacement=True)  # (B, S)
        masks = self.annotations[rows[:, None], variant]  # (B, S, *y_shape)
        return masks.transpose(0, 1).to(x.device)
