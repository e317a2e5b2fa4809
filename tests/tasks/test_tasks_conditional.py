"""Quadrant imputation and class-conditional tasks, quadrant masks, omission noise and figures."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import plausible.objectives.cvae  # noqa: F401  (registers the objectives the tasks default to)
from plausible.data import ImageDataset
from plausible.data.quadrants import (
    UNOBSERVED,
    OmissionNoise,
    fill_unobserved,
    omission_noise,
    quadrant_mask,
    region_mask,
    split_quadrants,
    unobserved_regions,
)
from plausible.metrics.suite import run_metrics
from plausible.models import CVAE, ConditionalBaseline
from plausible.registry import TASKS
from plausible.tasks.conditional import ClassConditional, QuadrantImputation, show_inputs
from plausible.viz.conditional import class_grid, hypothesis_grid, table_figure

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# -- quadrant masks -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("q", "observed"),
    [(1, [(1, 0)]), (2, [(0, 0), (1, 0)]), (3, [(0, 0), (0, 1), (1, 0)])],
    ids=str,
)
def test_quadrant_layouts(q: int, observed: list[tuple[int, int]]) -> None:
    mask = quadrant_mask(8, 8, q)  # True where unobserved
    for r in (0, 1):
        for c in (0, 1):
            block = mask[4 * r : 4 * r + 4, 4 * c : 4 * c + 4]
            assert bool(block.all()) == ((r, c) not in observed)
            assert bool(block.any()) == ((r, c) not in observed)


def test_odd_sizes_split_at_half() -> None:
    regions = unobserved_regions(7, 1)
    assert regions == [(0, 0, 3, 3), (0, 3, 3, 4), (3, 3, 4, 4)]
    assert int(region_mask(7, 7, regions).sum()) == 49 - 12


def test_split_quadrants_marks_inputs_and_keeps_only_unobserved_targets() -> None:
    images = torch.rand(4, 2, 6, 6)
    x, y = split_quadrants(images, 2)
    mask = quadrant_mask(6, 6, 2)
    assert x.shape == images.shape and y.shape == (4, 2 * 18)
    assert torch.all(x[:, :, mask] == UNOBSERVED)
    assert torch.equal(x[:, :, ~mask], images[:, :, ~mask])
    assert torch.equal(fill_unobserved(x, y, mask), images)
    samples = torch.stack([y, 1 - y])
    assert fill_unobserved(x, samples, mask).shape == (2, 4, 2, 6, 6)


@pytest.mark.parametrize("q", [0, 4, -1, True, 1.5], ids=str)
def test_quadrant_count_outside_one_to_three_is_refused(q: object) -> None:
    with pytest.raises(ValueError, match="must be 1, 2 or 3"):
        quadrant_mask(8, 8, q)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="must be 1, 2 or 3"):
        QuadrantImputation("digits", quadrants=q)  # type: ignore[arg-type]


def test_non_square_images_are_refused_by_the_mask() -> None:
    with pytest.raises(ValueError, match="square images"):
        quadrant_mask(8, 6, 1)


def test_non_square_data_set_is_refused_by_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(name: str, split: str, *, data_dir: object = None) -> ImageDataset:
        return ImageDataset(
            torch.rand(20, 1, 8, 6), torch.zeros(20, dtype=torch.long), ("a",), name
        )

    monkeypatch.setattr("plausible.tasks.conditional.load_dataset", fake)
    with pytest.raises(ValueError, match=r"needs square images, but 'wide' has 8 x 6"):
        QuadrantImputation("wide").load()


# -- omission noise -------------------------------------------------------------------------------
def test_omission_noise_zeroes_one_square_per_image_within_the_limit() -> None:
    x = torch.full((200, 1, 20, 20), 0.7)
    g = torch.Generator().manual_seed(0)
    noisy = omission_noise(x, max_fraction=0.4, generator=g)
    hit = noisy == 0.0
    rows, cols = hit.any(3), hit.any(2)
    side_r, side_c = rows.sum((1, 2)), cols.sum((1, 2))
    assert torch.equal(side_r, side_c)  # squares
    assert int(side_r.max()) <= 8 and int(side_r.max()) >= 6  # up to 40% of 20 pixels
    assert torch.equal(hit.sum((1, 2, 3)), side_r * side_c)  # one contiguous block
    assert torch.all(noisy[~hit] == 0.7)


def test_omission_noise_keeps_unobserved_markers_and_is_seeded() -> None:
    x, _ = split_quadrants(torch.rand(50, 1, 10, 10) + 0.1, 1)
    a = omission_noise(x, generator=torch.Generator().manual_seed(3))
    b = omission_noise(x, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    assert torch.equal(a == UNOBSERVED, x == UNOBSERVED)
    assert torch.equal(omission_noise(x, max_fraction=0.0), x)
    with pytest.raises(ValueError, match="max_fraction"):
        omission_noise(x, max_fraction=1.5)


def test_task_transform_corrupts_only_training_inputs() -> None:
    task = QuadrantImputation("digits", quadrants=1, omission_noise=0.4, binarize="dynamic")
    transform = task.batch_transform()
    assert transform is not None
    x, y = split_quadrants(torch.rand(16, 1, 8, 8), 1)
    out = transform({"x": x, "y": y}, torch.Generator().manual_seed(0))
    assert torch.equal(out["x"] == UNOBSERVED, x == UNOBSERVED)
    assert set(out["y"].unique().tolist()) <= {0.0, 1.0}
    assert QuadrantImputation("digits").batch_transform() is None
    assert isinstance(OmissionNoise(0.4)({"x": x}, torch.Generator())["x"], torch.Tensor)


# -- the quadrant task ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def quadrant_data() -> tuple[QuadrantImputation, object]:
    task = QuadrantImputation("digits", quadrants=1, max_train=300, max_test=40)
    return task, task.load()


def test_quadrant_task_is_registered() -> None:
    assert TASKS.get("quadrant") is QuadrantImputation
    assert TASKS.get("class-conditional") is ClassConditional


def test_quadrant_task_splits(quadrant_data: tuple) -> None:
    task, data = quadrant_data
    assert data.train["x"].shape[1:] == (1, 8, 8) and data.train["y"].shape[1] == 48
    assert len(data.train["x"]) + len(data.val["x"]) == 300
    assert len(data.test["y"]) == 40
    kwargs = task.model_kwargs(data)
    assert kwargs["y_shape"] == (48,) and kwargs["canvas_shape"] == (1, 8, 8)
    model = CVAE(**kwargs, latent_dim=3, hidden_dims=(16,))
    out = model(data.train["x"][:5], data.train["y"][:5])
    assert out.p_y.batch_shape == (1, 5)
    images = task.complete(data, data.test["x"], data.test["y"])
    assert images.min() >= 0 and images.max() <= 1


def test_quadrant_evaluation_reports_every_estimator(quadrant_data: tuple) -> None:
    task, data = quadrant_data
    assert task.metrics == ("nll",)

    def evaluate(model: torch.nn.Module, settings: dict) -> dict:
        return run_metrics(task.metrics, model, data, settings)["nll"]

    cvae = CVAE(**task.model_kwargs(data), latent_dim=3, hidden_dims=(16,))
    settings = {"num_samples": 5, "elbo_samples": 2, "max_examples": 20, "per_example": True}
    res = evaluate(cvae, settings)
    assert res["nll_mc"]["proposal"] == "p(z|x)" and res["nll_is"]["proposal"] == "q(z|x,y)"
    assert res["nll"] == res["nll_is"] and res["num_examples"] == 20
    assert "upper bound" in res["negative_elbo"]["estimator"]
    assert len(res["per_example_nll_is"]) == 20 and res["target_values"] == 48
    assert res["nll_per_element"] == pytest.approx(res["nll"]["mean"] / 48)
    gsnn = CVAE(**task.model_kwargs(data), latent_dim=3, hidden_dims=(16,), recognition_net=False)
    res = evaluate(gsnn, {"num_samples": 5})
    assert "nll_is" not in res and res["nll"] == res["nll_mc"]
    base = ConditionalBaseline(**task.model_kwargs(data), hidden_dims=(16,))
    res = evaluate(base, {})
    assert res["nll"]["proposal"] == "none (exact)" and res["nll"]["num_examples"] == 40


def test_quadrant_figures(quadrant_data: tuple, tmp_path: Path) -> None:
    task, data = quadrant_data
    model = CVAE(**task.model_kwargs(data), latent_dim=3, hidden_dims=(16,))
    records = [
        {"step": 1, "epoch": 1, "split": "train", "loss": 3.0},
        {"step": 2, "epoch": 1, "split": "val", "loss": 2.5},
    ]
    figs = task.figures(model, data, tmp_path, records=records)
    assert set(figs) == {"hypotheses", "training_curves"}
    assert all(p.read_bytes()[:8] == PNG for p in figs.values())


# -- the class-conditional task -------------------------------------------------------------------
def test_class_conditional_task(tmp_path: Path) -> None:
    task = ClassConditional("digits", max_train=200, max_test=30, binarize="threshold")
    data = task.load()
    assert data.train["x"].shape[1] == 10 and torch.all(data.train["x"].sum(1) == 1)
    assert data.train["y"].shape[1:] == (1, 8, 8)
    model = CVAE(**task.model_kwargs(data), latent_dim=3, hidden_dims=(16,), prior="standard")
    res = run_metrics(task.metrics, model, data, {"num_samples": 4, "elbo_samples": 1})["nll"]
    assert res["nll"]["num_examples"] == 30
    assert res["bits_per_dim"] == pytest.approx(res["nll"]["mean"] / (64 * math.log(2)))
    figs = task.figures(model, data, tmp_path, records=[])
    assert figs["class_samples"].read_bytes()[:8] == PNG
    assert ClassConditional("digits").batch_transform() is not None


def test_unknown_binarisation_is_refused() -> None:
    with pytest.raises(ValueError, match="binarize must be"):
        ClassConditional("digits", binarize="sometimes")  # type: ignore[arg-type]


# -- figures --------------------------------------------------------------------------------------
def test_hypothesis_and_class_grids(tmp_path: Path) -> None:
    x, y = split_quadrants(torch.rand(3, 1, 8, 8), 2)
    mask = quadrant_mask(8, 8, 2)
    samples = fill_unobserved(x, torch.rand(5, 3, y.shape[1]), mask)
    path = hypothesis_grid(
        show_inputs(x),
        fill_unobserved(x, y, mask),
        samples,
        tmp_path / "h.png",
        predictions=fill_unobserved(x, y, mask),
    )
    assert path.read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="same N"):
        hypothesis_grid(x, x, samples[:, :2], tmp_path / "bad.png")
    grid = class_grid(torch.rand(4, 3, 1, 8, 8), ["a", "b", "c", "d"], tmp_path / "c.png")
    assert grid.read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="K = 3 classes"):
        class_grid(torch.rand(4, 3, 1, 8, 8), ["a", "b", "c"], tmp_path / "c2.png")


def test_table_figure(tmp_path: Path) -> None:
    path = table_figure(
        ["model", "1 quadrant"],
        [["NN", "1.0 ± 0.1"], ["CVAE", "0.5 ± 0.1"]],
        tmp_path / "t.png",
        title="t",
        footnote="S = 10",
    )
    assert path.read_bytes()[:8] == PNG
    with pytest.raises(ValueError, match="2 cells"):
        table_figure(["a", "b"], [["only one"]], tmp_path / "t2.png")
