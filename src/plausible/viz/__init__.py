"""Figures for runs: image grids, latent-space pictures, training curves (Agg only)."""

from plausible.viz.images import image_grid, labelled_rows, mosaic, reconstruction_figure
from plausible.viz.latent import (
    LatentVariableModel,
    interpolation,
    latent_manifold,
    latent_scatter,
    latent_traversal,
)
from plausible.viz.training import kl_per_dimension_bars, training_curves

__all__ = [
    "LatentVariableModel",
    "image_grid",
    "interpolation",
    "kl_per_dimension_bars",
    "labelled_rows",
    "latent_manifold",
    "latent_scatter",
    "latent_traversal",
    "mosaic",
    "reconstruction_figure",
    "training_curves",
]
