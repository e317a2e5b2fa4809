"""Network building blocks: MLPs, joint MLPs, conv encoders/decoders, output canvases, GRU
sequence encoders/decoders and Mix-and-Match mixing."""

from plausible.nn.canvas import OutputCanvas, region_mask
from plausible.nn.conv import ConvDecoder, ConvEncoder, MultiScaleConvDecoder
from plausible.nn.joint import JointMLP
from plausible.nn.mixing import mix_and_match, sample_units
from plausible.nn.mlp import MLP, make_activation
from plausible.nn.sequence import SequenceDecoder, SequenceEncoder
from plausible.nn.unet import DownEncoder, FeatureExpanding, LatentInjection, UNet, pointwise_head

__all__ = [
    "MLP",
    "ConvDecoder",
    "ConvEncoder",
    "DownEncoder",
    "FeatureExpanding",
    "JointMLP",
    "LatentInjection",
    "MultiScaleConvDecoder",
    "OutputCanvas",
    "SequenceDecoder",
    "SequenceEncoder",
    "UNet",
    "make_activation",
    "mix_and_match",
    "pointwise_head",
    "region_mask",
    "sample_units",
]
