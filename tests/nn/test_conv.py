"""Convolutional encoder/decoders: shapes inferred for any C x H x W; multi-scale outputs."""

from __future__ import annotations

import pytest
import torch

from plausible.nn import MLP, ConvDecoder, ConvEncoder, MultiScaleConvDecoder
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


def test_multiscale_decoder_outputs_three_resolutions() -> None:
    decoder = MultiScaleConvDecoder(5, (2, 28, 28), (8, 4, 4), num_scales=3)
    outs = decoder(torch.randn(3, 4, 5))
    assert [tuple(o.shape) for o in outs] == [(3, 4, 2, 28, 28), (3, 4, 2, 14, 14), (3, 4, 2, 7, 7)]
    with pytest.raises(ValueError, match="at least 2 channel widths"):
        MultiScaleConvDecoder(5, (2, 28, 28), (8,), num_scales=3)


@pytest.mark.parametrize("shape", [(2, 28, 28), (1, 13, 7)], ids=str)
def test_multiscale_full_resolution_is_the_conv_decoder(shape: tuple[int, int, int]) -> None:
    """Same layers, same weights: the full-resolution output is what ConvDecoder computes."""
    torch.manual_seed(0)
    multi = MultiScaleConvDecoder(5, shape, (8, 4, 4), num_scales=3)
    torch.manual_seed(0)
    single = ConvDecoder(5, shape, (8, 4, 4))
    # The same seed gives the same initial weights: the layers are built in the same order.
    assert torch.equal(single.linear[0].weight, multi.linear[0].weight)
    deconvs = [m for m in single.deconvs if isinstance(m, torch.nn.ConvTranspose2d)]
    for a, b in zip(deconvs, multi.deconvs, strict=True):
        assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)
    h = torch.randn(3, 5)
    assert torch.allclose(multi(h)[0], single(h), atol=1e-6)


def test_coarse_outputs_read_the_intermediate_feature_maps() -> None:
    torch.manual_seed(0)
    decoder = MultiScaleConvDecoder(5, (2, 12, 12), (8, 4, 4), num_scales=3)
    h = torch.randn(2, 5)
    f0 = decoder.linear(h).view(2, 8, 2, 2)  # 12 -> 6 -> 3 -> 2: the smallest map is 2 x 2
    f1 = decoder.act(decoder.deconvs[0](f0))  # 3 x 3
    f2 = decoder.act(decoder.deconvs[1](f1))  # 6 x 6
    _, half, quarter = decoder(h)
    assert torch.allclose(half, decoder.heads[0](f2), atol=1e-6)
    assert torch.allclose(quarter, decoder.heads[1](f1), atol=1e-6)
