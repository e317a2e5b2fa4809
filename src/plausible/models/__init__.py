"""Model families; importing this package registers every model in ``MODELS``."""

from plausible.models.baseline import BaselineOutput, ConditionalBaseline
from plausible.models.cvae import CVAE, CVAEOutput
from plausible.models.dense import DenseBaseline, DenseCVAE
from plausible.models.mdn import MDN, GaussianRegression
from plausible.models.sequence import SequenceBaseline, SequenceCVAE
from plausible.models.vae import VAE, VAEOutput

__all__ = [
    "CVAE",
    "MDN",
    "VAE",
    "BaselineOutput",
    "CVAEOutput",
    "ConditionalBaseline",
    "DenseBaseline",
    "DenseCVAE",
    "GaussianRegression",
    "SequenceBaseline",
    "SequenceCVAE",
    "VAEOutput",
]
