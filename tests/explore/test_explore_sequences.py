"""Sequence pictures in the explorer: the three styles, one shared scale, and a SequenceCVAE
served with its histories and futures drawn as pictures."""

from __future__ import annotations

import base64
import io

import matplotlib.colors
import matplotlib.image
import numpy as np
import pytest
import torch

from plausible.explore import LatentExplorer, make_explorer
from plausible.explore.sequences import (
    MAX_CHANNELS,
    PICTURE_SIZE,
    SequencePictures,
    sequence_pictures,
)
from plausible.models import SequenceCVAE
from plausible.tasks.base import TaskData
from plausible.viz._prml import hypothesis_colour, kernel_colour

BONES = [(0, 1), (1, 2)]


def _pixels(image: np.ndarray, colour: str, tolerance: int = 6) -> np.ndarray:
    """``(P, 2)`` row, column of the pixels of ``image`` ``(H, W, 3)`` uint8 in ``colour``."""
    rgb = np.round(255 * np.asarray(matplotlib.colors.to_rgb(colour))).astype(int)
    return np.argwhere(np.abs(image.astype(int) - rgb).max(-1) <= tolerance)


def _decode_png(url: str) -> np.ndarray:
    assert url.startswith("data:image/png;base64,")
    png = base64.b64decode(url.split(",", 1)[1])
    image = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
    return np.round(255 * image).astype(np.uint8)


def _paths(n: int = 8, dim: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.cumsum(0.1 * torch.randn(n, 6, dim, generator=g), 1)
    y = x[:, -1:] + torch.cumsum(0.1 * torch.randn(n, 5, dim, generator=g), 1)
    return x, y


# -- SequencePictures --------------------------------------------------------------------------
def test_trajectories_draw_the_history_black_and_the_future_coloured() -> None:
    x, y = _paths()
    pictures = SequencePictures(x, y)
    assert pictures.style == "trajectory" and pictures.image_shape == (3, *PICTURE_SIZE)
    past = pictures.history(x[0])
    assert past.shape == (*PICTURE_SIZE, 3) and past.dtype == np.uint8
    assert len(_pixels(past, "black")) and not len(_pixels(past, hypothesis_colour(0)))
    ahead = pictures.future(x[0], y[0])
    assert len(_pixels(ahead, "black")) and len(_pixels(ahead, hypothesis_colour(0)))
    # Drawing is a function of the sequence alone: redrawn after another, it is the same.
    pictures.history(x[3])
    assert np.array_equal(pictures.history(x[0]), past)


def test_every_picture_shares_one_scale() -> None:
    """Two histories apart in the plane are drawn apart, not each centred in its picture."""
    x, y = _paths()
    x[0] -= 5.0
    y[0] -= 5.0
    x[1] += 5.0
    y[1] += 5.0
    pictures = SequencePictures(x, y)
    left = _pixels(pictures.history(x[0]), "black")[:, 1].mean()
    right = _pixels(pictures.history(x[1]), "black")[:, 1].mean()
    assert left < PICTURE_SIZE[1] / 3 < 2 * PICTURE_SIZE[1] / 3 < right


def test_skeletons_draw_the_bones_of_the_poses() -> None:
    x, y = _paths(dim=6)
    pictures = SequencePictures(x, y, bones=BONES)
    assert pictures.style == "skeleton"
    ahead = pictures.future(x[0], y[0])
    assert len(_pixels(ahead, "black")) and len(_pixels(ahead, hypothesis_colour(0)))
    past = pictures.history(x[0])
    assert len(_pixels(past, "black")) and not len(_pixels(past, hypothesis_colour(0)))


def test_other_frames_draw_the_first_channels_in_lanes() -> None:
    x, y = _paths(dim=6)
    pictures = SequencePictures(x, y)
    assert pictures.style == "channels" and pictures.channels == MAX_CHANNELS
    image = pictures.future(x[0], y[0])
    lanes = PICTURE_SIZE[0] / MAX_CHANNELS
    for c in range(MAX_CHANNELS):
        rows = _pixels(image, kernel_colour(c))[:, 0]
        assert len(rows), c
        # Channel c lies within lane c from the top (its range over the data scaled to 80%).
        assert c * lanes - 1 <= rows.min() and rows.max() <= (c + 1) * lanes + 1, c
    assert not len(_pixels(image, kernel_colour(MAX_CHANNELS)))


def test_pictures_refuse_what_they_cannot_draw() -> None:
    x, y = _paths()
    with pytest.raises(ValueError, match=r"one N and D; got \(8, 6, 2\) and \(8, 5, 3\)"):
        SequencePictures(x, torch.zeros(8, 5, 3))
    with pytest.raises(ValueError, match="2 values"):
        SequencePictures(*_paths(dim=5), bones=BONES)
    with pytest.raises(ValueError, match=r"joint indices in \[0, 3\)"):
        SequencePictures(*_paths(dim=6), bones=[(0, 3)])
    assert sequence_pictures((6, 2), (10,), x, torch.zeros(8, 10)) is None
    assert sequence_pictures((12,), (10,), x.flatten(1), torch.zeros(8, 10)) is None
    assert isinstance(sequence_pictures((6, 2), (5, 2), x, y), SequencePictures)


# -- the explorer ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("dim", "bones", "style"),
    [(2, None, "trajectory"), (6, BONES, "skeleton"), (6, None, "channels")],
    ids=str,
)
def test_the_explorer_serves_a_sequence_cvae_as_pictures(
    dim: int, bones: list | None, style: str
) -> None:
    x, y = _paths(n=6, dim=dim)
    split = {"x": x, "y": y}
    info = {} if bones is None else {"bones": bones}
    data = TaskData(train=split, val=split, test=split, info=info)
    torch.manual_seed(0)
    model = SequenceCVAE((6, dim), (5, dim), latent_dim=2, hidden_size=8).eval()
    explorer = make_explorer(model, data, model_name="sequence-cvae")
    assert isinstance(explorer, LatentExplorer)
    assert explorer.sequences is not None and explorer.sequences.style == style
    about = explorer.info()
    assert about["image"] == {"channels": 3, "height": 160, "width": 240}
    assert about["condition"]["picture"]

    reply = explorer.call("condition", {"index": 2})
    condition = _decode_png(reply["condition"])
    assert np.array_equal(condition, explorer.sequences.history(x[2]))
    assert np.array_equal(_decode_png(reply["truth"]), explorer.sequences.future(x[2], y[2]))

    u = [0.5, -1.0]
    decoded = explorer.call("decode", {"z": u, "condition": 2})
    with torch.no_grad():
        p_z = model.prior(x[2:3])
        mean = model.generate(x[2:3], p_z.mean + p_z.stddev * torch.tensor(u)).mean[0]
    expected = explorer.sequences.future(x[2], mean)
    assert np.array_equal(_decode_png(decoded["image"]), expected)
    assert not np.array_equal(expected, condition)  # the future is drawn, not only the past

    hypotheses = explorer.call("hypotheses", {"condition": 2, "count": 3, "seed": 1})
    pictures = [_decode_png(url) for url in hypotheses["images"]]
    assert len(pictures) == 3 and all(p.shape == (*PICTURE_SIZE, 3) for p in pictures)


def test_mix_and_match_pictures_move_only_with_the_sliders() -> None:
    """Random Mix-and-Match units are redrawn by every generate call; the explorer fixes them,
    so the same slider values give the same picture and other values another one."""
    x, y = _paths(n=6, dim=2)
    split = {"x": x, "y": y}
    data = TaskData(train=split, val=split, test=split, info={})
    torch.manual_seed(0)
    model = SequenceCVAE(
        (6, 2), (5, 2), latent_dim=2, hidden_size=8, conditioning="mix-and-match"
    ).eval()
    explorer = make_explorer(model, data, model_name="sequence-cvae")
    first = explorer.call("decode", {"z": [0.5, -1.0], "condition": 1})["image"]
    torch.manual_seed(123)  # whatever the global stream holds, the picture is the same
    again = explorer.call("decode", {"z": [0.5, -1.0], "condition": 1})["image"]
    other = explorer.call("decode", {"z": [2.0, 2.0], "condition": 1})["image"]
    assert first == again
    assert first != other
