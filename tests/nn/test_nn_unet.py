"""U-Net, DownEncoder, latent injection, feature expanding: sizes, receptive fields, exact maps."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from plausible.models.dense import DenseBaseline
from plausible.nn import (
    ConvEncoder,
    DownEncoder,
    FeatureExpanding,
    LatentInjection,
    UNet,
    pointwise_head,
)


def _grad_support(net: nn.Module, shape: tuple[int, ...], pixel: tuple[int, int]) -> Tensor:
    """Boolean (H, W): input pixels on which the output at ``pixel`` (all channels) depends."""
    x = torch.randn(1, *shape, dtype=torch.float64, requires_grad=True)
    net(x)[0, :, pixel[0], pixel[1]].sum().backward()
    assert x.grad is not None
    return x.grad[0].abs().sum(0) > 0


def _square(height: int, width: int, centre: tuple[int, int], radius: int) -> Tensor:
    rows = torch.arange(height)[:, None]
    cols = torch.arange(width)[None, :]
    return ((rows - centre[0]).abs() <= radius) & ((cols - centre[1]).abs() <= radius)


@pytest.mark.parametrize("size", [(28, 28), (30, 22), (17, 17), (5, 3), (1, 1)], ids=str)
def test_unet_keeps_any_size_and_treats_examples_independently(size: tuple[int, int]) -> None:
    net = UNet(2, 3, channels=(4, 8, 8))
    x = torch.randn(2, 3, 2, *size)
    out = net(x)
    assert out.shape == (2, 3, 3, *size)
    # No normalisation across the batch: each example alone gives the same output.
    alone = torch.stack([net(x[i, j : j + 1])[0] for i in range(2) for j in range(3)])
    torch.testing.assert_close(out.reshape(6, 3, *size), alone)


def test_one_level_unet_sees_exactly_two_convolutions_around_a_pixel() -> None:
    """One level: two 3x3 convs then a 1x1 conv, so the receptive field is the 5 x 5 square."""
    net = UNet(1, 2, channels=(3,), activation="tanh").double()
    support = _grad_support(net, (1, 13, 11), (6, 4))
    assert torch.equal(support, _square(13, 11, (6, 4), 2))


def test_unet_output_at_a_corner_depends_on_the_far_corner() -> None:
    net = UNet(1, 1, channels=(4, 8, 8), activation="tanh").double()
    support = _grad_support(net, (1, 17, 17), (0, 0))
    assert bool(support[16, 16])
    assert bool(support.all())  # the coarse path reaches across the whole 17 x 17 image


def test_the_skip_connection_alone_carries_the_full_resolution_input() -> None:
    """Cut the upsampled path into the finest decoder block: what is left is the finest skip,
    two 3x3 convs down and two up, whose receptive field is exactly the 9 x 9 square."""
    net = UNet(1, 2, channels=(4, 8, 8), activation="tanh").double()
    with torch.no_grad():
        net.up[0][0].weight[:, 4:] = 0.0  # the input channels that come from the coarser level
    support = _grad_support(net, (1, 21, 19), (10, 7))
    assert torch.equal(support, _square(21, 19, (10, 7), 4))


def test_unet_gradients_reach_every_parameter() -> None:
    net = UNet(2, 3, channels=(4, 6, 8), activation="tanh")
    net(torch.randn(2, 2, 15, 11)).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


@pytest.mark.parametrize("size", [(28, 28), (17, 9), (3, 30)], ids=str)
def test_down_encoder_pools_every_pixel_of_any_size(size: tuple[int, int]) -> None:
    net = DownEncoder(3, 5, channels=(4, 8, 8), activation="tanh").double()
    x = torch.randn(2, 4, 3, *size, dtype=torch.float64, requires_grad=True)
    out = net(x)
    assert out.shape == (2, 4, 5)
    out[1, 2].sum().backward()
    assert x.grad is not None
    # The global average pool reads every pixel of its own example and nothing else.
    touched = x.grad.abs().sum(2) > 0
    assert bool(touched[1, 2].all()) and int(touched.sum()) == math.prod(size)
    torch.testing.assert_close(out[1, 2], net(x[1, 2:3])[0])


def test_down_encoder_mean_pools_the_last_level_before_the_linear_map() -> None:
    """With the linear map set to the identity, the output is the spatial mean of the deepest
    conv block's map (one level here, so the block sees the image itself)."""
    net = DownEncoder(1, 4, channels=(4,), activation="tanh").double()
    with torch.no_grad():
        net.linear.weight.copy_(torch.eye(4))
        net.linear.bias.zero_()
    x = torch.randn(1, 1, 9, 7, dtype=torch.float64)
    block = net.down.blocks[0](x)
    torch.testing.assert_close(net(x)[0], block[0].mean(dim=(1, 2)))


def test_conv_encoder_fixes_the_size_down_encoder_does_not() -> None:
    with pytest.raises(ValueError, match="expects images of shape"):
        ConvEncoder((2, 16, 16), 3)(torch.zeros(1, 2, 17, 17))
    assert DownEncoder(2, 3)(torch.zeros(1, 2, 17, 17)).shape == (1, 3)
    with pytest.raises(ValueError, match=r"built for images \(\.\.\., 2, H, W\)"):
        DownEncoder(2, 3)(torch.zeros(1, 3, 8, 8))


def _pointwise(convs: nn.ModuleList, h: Tensor, act: str) -> Tensor:
    """Hand-written 1x1 convolutions: ``h <- W h + b`` per pixel with einsum."""
    for i, conv in enumerate(convs):
        if i > 0:
            h = torch.relu(h) if act == "relu" else torch.tanh(h)
        w = conv.weight[:, :, 0, 0]
        h = torch.einsum("oc,bchw->bohw", w, h) + conv.bias[None, :, None, None]
    return h


def _tile(z: Tensor, height: int, width: int) -> Tensor:
    return z[:, :, None, None].repeat(1, 1, height, width)


@pytest.mark.parametrize("hidden", [(6, 5), (), (7,)], ids=str)
def test_latent_injection_is_tile_concat_and_pointwise_convs(hidden: tuple[int, ...]) -> None:
    net = LatentInjection(3, 2, 4, hidden=hidden, activation="tanh").double()
    f = torch.randn(2, 3, 5, 7, dtype=torch.float64)
    z = torch.randn(2, 2, dtype=torch.float64)
    expected = _pointwise(net.convs, torch.cat([f, _tile(z, 5, 7)], dim=1), "tanh")
    torch.testing.assert_close(net(f, z), expected)


def test_latent_injection_with_sample_dims_equals_a_loop_over_samples() -> None:
    net = LatentInjection(3, 2, 1).double()
    f = torch.randn(4, 3, 6, 5, dtype=torch.float64)
    z = torch.randn(3, 2, 4, 2, dtype=torch.float64)
    out = net(f, z)
    assert out.shape == (3, 2, 4, 1, 6, 5)
    for s in range(3):
        for t in range(2):
            torch.testing.assert_close(out[s, t], net(f, z[s, t]))


def test_latent_injection_reports_mismatched_shapes_and_gets_gradients() -> None:
    net = LatentInjection(3, 2, 1)
    with pytest.raises(ValueError, match=r"z \(\.\.\., B, 2\) with B = 4"):
        net(torch.zeros(4, 3, 5, 5), torch.zeros(5, 2))
    with pytest.raises(ValueError, match=r"features \(B, 3, H, W\)"):
        net(torch.zeros(4, 2, 5, 5), torch.zeros(4, 2))
    net(torch.randn(4, 3, 5, 5), torch.randn(2, 4, 2)).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name


def _scaled(scales: list[float], features: int = 2, **kwargs: object) -> FeatureExpanding:
    net = FeatureExpanding(features, len(scales), 3, **kwargs).double()  # type: ignore[arg-type]
    with torch.no_grad():
        net.raw_noise_scale.copy_(torch.tensor(scales).expm1().log())
    return net


def test_feature_expanding_starts_at_the_given_scale_and_is_deterministic_without_noise() -> None:
    net = FeatureExpanding(3, 4, 2, noise_scale=0.1).double()
    torch.testing.assert_close(net.noise_scale, torch.full((4,), 0.1, dtype=torch.float64))
    f = torch.randn(2, 3, 5, 4, dtype=torch.float64)
    z = torch.randn(3, 2, 4, dtype=torch.float64)
    a, b = net(f, z, noise=False), net(f, z, noise=False)
    assert torch.equal(a, b)
    # Hand computation: tile, concatenate, squeeze-and-excitation gate, 1x1 convolutions.
    for s in range(3):
        h = torch.cat([f, _tile(z[s], 5, 4)], dim=1)
        lin1, lin2 = net.gate[0], net.gate[2]
        g = torch.sigmoid(lin2(torch.relu(lin1(h.mean(dim=(2, 3))))))
        expected = _pointwise(net.convs, h * g[:, :, None, None], "relu")
        torch.testing.assert_close(a[s], expected)
    assert not torch.equal(net(f, z), a)  # with noise the output moves


def test_expand_adds_exactly_the_scaled_global_normal_draw() -> None:
    net = _scaled([0.1, 0.5, 2.0])
    z = torch.randn(2, 4, 3, dtype=torch.float64)
    torch.manual_seed(7)
    e = net.expand(z, 5, 6)
    torch.manual_seed(7)
    eps = torch.randn(2, 4, 3, 5, 6, dtype=torch.float64)
    scale = torch.tensor([0.1, 0.5, 2.0], dtype=torch.float64)
    torch.testing.assert_close(e, z[..., None, None] + scale[:, None, None] * eps)
    assert torch.equal(net.expand(z, 5, 6, noise=False), z[..., None, None].expand(2, 4, 3, 5, 6))


def test_expanded_map_has_mean_z_and_variance_scale_squared_independent_per_pixel() -> None:
    n = 4000
    scales = [0.1, 0.5, 2.0]
    net = _scaled(scales)
    z = torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64).expand(n, 1, 3)
    e = net.expand(z, 2, 3)[:, 0]  # (n, L, 2, 3)
    tol = 5 * math.sqrt(2 / (n - 1))  # 5 standard errors of a sample variance, relative
    for k, s in enumerate(scales):
        var = e[:, k].var(dim=0)
        assert bool(((var / s**2 - 1).abs() < tol).all()), (k, var)
        assert bool(((e[:, k].mean(0) - z[0, 0, k]).abs() < 5 * s / math.sqrt(n)).all())
    corr = torch.corrcoef(e[:, 1].flatten(1).T)
    assert bool((corr - torch.eye(6, dtype=torch.float64)).abs().max() < 5 / math.sqrt(n))


def test_feature_expanding_with_identity_mixing_passes_half_the_noisy_code() -> None:
    """Gate weights zero -> every gate is sigmoid(0) = 1/2; 1x1 conv selecting the code channels
    -> output = e / 2, so at a pixel the mean is z / 2 and the variance s^2 / 4."""
    n, scales = 4000, [0.2, 1.5, 0.7]
    net = _scaled(scales, features=2, hidden=())
    with torch.no_grad():
        net.gate[2].weight.zero_()
        net.gate[2].bias.zero_()
        conv = net.convs[0]
        conv.weight.zero_()
        conv.bias.zero_()
        for k in range(3):
            conv.weight[k, 2 + k] = 1.0
    f = torch.randn(1, 2, 3, 3, dtype=torch.float64)
    z = torch.tensor([[1.0, -0.5, 0.0]], dtype=torch.float64)
    out = net(f, z.expand(n, 1, 3))[:, 0]  # (n, 3, 3, 3)
    tol = 5 * math.sqrt(2 / (n - 1))
    for k, s in enumerate(scales):
        assert bool(((out[:, k].var(0) / (s**2 / 4) - 1).abs() < tol).all())
        assert bool(((out[:, k].mean(0) - z[0, k] / 2).abs() < 5 * s / 2 / math.sqrt(n)).all())
    torch.testing.assert_close(net(f, z, noise=False)[0], _tile(z, 3, 3)[0] / 2)


def test_feature_expanding_gradients_reach_every_parameter_and_errors_are_clear() -> None:
    net = FeatureExpanding(3, 2, 2, hidden=(4,))
    net(torch.randn(2, 3, 5, 4), torch.randn(3, 2, 2)).square().sum().backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and bool(p.grad.abs().sum() > 0), name
    with pytest.raises(ValueError, match=r"z \(\.\.\., B, 2\)"):
        net(torch.zeros(2, 3, 5, 4), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="noise_scale must be positive"):
        FeatureExpanding(3, 2, 2, noise_scale=0.0)


def test_pointwise_head_is_the_same_mlp_at_every_pixel() -> None:
    torch.manual_seed(0)
    head = pointwise_head(5, 2, hidden=(7, 3), activation="tanh")
    convs = [m for m in head.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [7, 3, 2]
    f = torch.randn(4, 5, 6, 3)
    h = f.permute(0, 2, 3, 1)  # (B, H, W, 5): one feature vector per pixel
    for i, conv in enumerate(convs):
        h = h @ conv.weight[:, :, 0, 0].T + conv.bias
        h = torch.tanh(h) if i < len(convs) - 1 else h
    torch.testing.assert_close(head(f), h.permute(0, 3, 1, 2))
    # No hidden widths: one 1x1 convolution, the layout of the plain U-Net's output layer.
    single = pointwise_head(5, 2)
    assert isinstance(single, nn.Conv2d) and single.kernel_size == (1, 1)
    assert list(DenseBaseline().state_dict())[-2:] == ["output.weight", "output.bias"]
    with pytest.raises(ValueError, match="widths must be positive"):
        pointwise_head(5, 2, hidden=(0,))
