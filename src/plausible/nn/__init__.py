"""Network building blocks: MLPs, joint MLPs, conv encoders/decoders and output canvases."""

from plausible.nn.canvas import OutputCanvas, region_mask
from plausible.nn.conv import ConvDecoder, ConvEncoder, MultiScaleConvDecoder
from plausible.nn.joint import JointMLP
from plausible.nn.mlp import MLP, make_activation

__all__ = [
    "MLP",
    "ConvDecoder",
    "ConvEncoder",
    "JointMLP",
    "MultiScaleConvDecoder",
    "OutputCanvas",
    "make_activation",
    "region_mask",
]
