"""The explorer (``plausible explore``): a local web page to wander a trained model, one explorer
per model protocol."""

from plausible.explore.base import Explorer
from plausible.explore.density import DensityExplorer
from plausible.explore.factory import explorer_for_run, make_explorer
from plausible.explore.latent import LatentExplorer
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
