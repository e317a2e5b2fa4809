"""A tiny PNG encoder (numpy + zlib) for the explorer's small, frequently redrawn images."""

from __future__ import annotations

import base64
import struct
import zlib
from functools import lru_cache

import numpy as np

__all__ = ["colormap", "encode_png", "png_data_url", "to_uint8"]

_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Map floats in ``[0, 1]`` to ``uint8`` (values outside are clipped, NaN shown as 0)."""
    if image.dtype == np.uint8:
        return image
    clean = np.nan_to_num(np.asarray(image, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return (np.clip(clean, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def encode_png(image: np.ndarray, *, level: int = 6) -> bytes:
    """Encode one image as PNG bytes.

    Args:
        image: ``(H, W)`` grey or ``(H, W, 3)`` RGB; ``uint8``, or floats in ``[0, 1]``.
        level: zlib compression level (0-9); the images are tiny, so the level barely matters.

    Returns:
        The PNG file's bytes (8-bit, no interlacing, filter type 0 on every row).
    """
    pixels = to_uint8(np.asarray(image))
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    if pixels.ndim == 2:
        colour_type = 0
    elif pixels.ndim == 3 and pixels.shape[2] == 3:
        colour_type = 2
    else:
        raise ValueError(f"encode_png needs (H, W) or (H, W, 3) pixels, got shape {pixels.shape}")
    height, width = pixels.shape[:2]
    if height < 1 or width < 1:
        raise ValueError(f"encode_png needs a non-empty image, got shape {pixels.shape}")
    rows = np.ascontiguousarray(pixels).reshape(height, -1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)
    return b"".join(
        [
            _SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(raw, level)),
            _chunk(b"IEND", b""),
        ]
    )


def png_data_url(image: np.ndarray) -> str:
    """``data:image/png;base64,...`` for an image accepted by :func:`encode_png`."""
    return "data:image/png;base64," + base64.b64encode(encode_png(image)).decode("ascii")


@lru_cache(maxsize=4)
def _lut(name: str) -> np.ndarray:
    import matplotlib

    return to_uint8(matplotlib.colormaps[name](np.linspace(0.0, 1.0, 256))[:, :3])


def colormap(values: np.ndarray, name: str = "viridis") -> np.ndarray:
    """Colour ``(H, W)`` values in ``[0, 1]`` with a matplotlib colormap: ``(H, W, 3)`` uint8."""
    return _lut(name)[to_uint8(values)]
