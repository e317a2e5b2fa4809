"""Model families; importing this package registers every model in ``MODELS``."""

from plausible.models.mdn import MDN, GaussianRegression
from plausible.models.vae import VAE, VAEOutput

__all__ = ["MDN", "VAE", "GaussianRegression", "VAEOutput"]
