"""Model families; importing this package registers every model in ``MODELS``."""

from plausible.models.vae import VAE, VAEOutput

__all__ = ["VAE", "VAEOutput"]
