"""Convolutional encoder/decoder shapes are inferred for any C x H x W."""

from __future__ import annotations

import pytest
import torch

from plausible.nn import MLP, ConvDecoder, ConvEncoder
from plausible.nn.conv import downsampled_sizes


@pytest.mark.parametrize(
    "shape", [(1, 28, 28), (1, 8, 8), (3, 64, 64), (2, 13, 7), (1, 5, 31)], ids=str
)
def test_decoder_reaches_exact_size_and_encoder_accepts_it(shape: tuple[int, int, int]) -> None:
    encoder, decoder = (
        ConvEncoder(shape, 6, channels=(4, 8, 8)),
        ConvDecoder(6, shape, channels=(8, 8, 4)),
    )
    z = torch.randn(2, 5, 6)
    images = decoder(z)
    assert images.shape == (2, 5, *shape)
    assert encoder(images.flatten(0, 1)).shape == (10, 6)


def test_downsampled_sizes_round_up() -> None:
    assert downsampled_sizes(28, 3) == [28, 14, 7, 4]
    assert downsampled_sizes(13, 2) == [13, 7, 4]


def test_bad_shapes_are_reported() -> None:
    with pytest.raises(ValueError, match="channels, height, width"):
        ConvEncoder((28, 28), 4)
    with pytest.raises(
        ValueError, match=r"expects images of shape \(B, 1, 8, 8\), got \(2, 1, 9, 9\)"
    ):
        ConvEncoder((1, 8, 8), 4)(torch.zeros(2, 1, 9, 9))
    with pytest.raises(ValueError, match="expects inputs with 4 features"):
        MLP(4, 2)(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="unknown activation"):
        MLP(4, 2, activation="sigmoidish")  # type: ignore[arg-type]
