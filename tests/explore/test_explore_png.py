"""The explorer's PNG encoder: exact pixels back through an independent decoder (Pillow)."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from plausible.explore.png import colormap, encode_png, png_data_url, to_uint8

Image = pytest.importorskip("PIL.Image", reason="Pillow decodes the PNGs in these tests")


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)))


@pytest.mark.parametrize("shape", [(8, 8), (28, 28), (3, 17), (5, 4, 3), (1, 1)], ids=str)
def test_uint8_pixels_round_trip(shape: tuple[int, ...]) -> None:
    pixels = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    assert np.array_equal(_decode(encode_png(pixels)), pixels)


def test_floats_are_scaled_clipped_and_nan_is_black() -> None:
    image = np.array([[0.0, 0.5, 1.0], [-3.0, 7.0, np.nan]], dtype=np.float32)
    assert _decode(encode_png(image)).tolist() == [[0, 128, 255], [0, 255, 0]]
    assert to_uint8(image).dtype == np.uint8


def test_single_channel_axis_is_grey() -> None:
    pixels = np.arange(16, dtype=np.uint8).reshape(4, 4, 1)
    assert np.array_equal(_decode(encode_png(pixels)), pixels[:, :, 0])


@pytest.mark.parametrize("shape", [(4,), (2, 2, 2), (2, 2, 4), (0, 3)], ids=str)
def test_bad_shapes_are_refused(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="encode_png"):
        encode_png(np.zeros(shape, np.uint8))


def test_data_url_and_colormap() -> None:
    url = png_data_url(np.zeros((2, 2)))
    assert url.startswith("data:image/png;base64,")
    assert _decode(base64.b64decode(url.split(",", 1)[1])).shape == (2, 2)
    rgb = colormap(np.linspace(0, 1, 6).reshape(2, 3))
    assert rgb.shape == (2, 3, 3) and rgb.dtype == np.uint8
    assert not np.array_equal(rgb[0, 0], rgb[1, 2])
