"""Network building blocks: MLPs and convolutional encoders/decoders with inferred shapes."""

from plausible.nn.conv import ConvDecoder, ConvEncoder
from plausible.nn.mlp import MLP, make_activation

__all__ = ["MLP", "ConvDecoder", "ConvEncoder", "make_activation"]
