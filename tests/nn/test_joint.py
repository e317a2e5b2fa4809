"""The joint MLP is an MLP on the concatenation of its two inputs, without concatenating them."""

from __future__ import annotations

import torch
from torch import nn

from plausible.nn import JointMLP


def test_joint_mlp_equals_an_mlp_on_the_concatenation() -> None:
    torch.manual_seed(0)
    net = JointMLP(4, 3, 2, (8, 5))
    first = nn.Linear(7, 8)
    with torch.no_grad():
        first.weight.copy_(torch.cat([net.a_map.weight, net.b_map.weight], dim=1))
        first.bias.copy_(net.a_map.bias)
    a, b = torch.randn(6, 4), torch.randn(6, 3)
    expected = net.rest(first(torch.cat([a, b], dim=1)))
    assert torch.allclose(net(a, b), expected, atol=1e-6)


def test_joint_mlp_broadcasts_samples_over_inputs() -> None:
    net = JointMLP(4, 3, 2, (8,))
    a, b = torch.randn(5, 4), torch.randn(6, 5, 3)
    out = net(a, b)
    assert out.shape == (6, 5, 2)
    assert torch.allclose(out[2], net(a, b[2]))


def test_joint_mlp_without_hidden_layers_is_one_linear_map() -> None:
    net = JointMLP(2, 2, 3, ())
    a, b = torch.randn(4, 2), torch.randn(4, 2)
    expected = a @ net.a_map.weight.T + net.a_map.bias + b @ net.b_map.weight.T
    assert torch.allclose(net(a, b), expected, atol=1e-6)
