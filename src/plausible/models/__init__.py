"""Model families; importing this package registers every model in ``MODELS``."""

from plausible.models.cvae import CVAE, ConditionalBaseline
from plausible.models.mdn import MDN, GaussianRegression
from plausible.models.vae import VAE, VAEOutput

__all__ = ["CVAE", "MDN", "VAE", "ConditionalBaseline", "GaussianRegression", "VAEOutput"]
