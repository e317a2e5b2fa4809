"""The latent explorer (``plausible explore``): a local web page to wander a latent space."""

from plausible.explore.explorers import (
    DensityExplorer,
    Explorer,
    LatentExplorer,
    explorer_for_run,
    make_explorer,
)
from plausible.explore.png import encode_png
from plausible.explore.server import ExplorerServer, make_server
from plausible.explore.validation import BadRequestError, NotFoundError

__all__ = [
    "BadRequestError",
    "DensityExplorer",
    "Explorer",
    "ExplorerServer",
    "LatentExplorer",
    "NotFoundError",
    "encode_png",
    "explorer_for_run",
    "make_explorer",
    "make_server",
]
