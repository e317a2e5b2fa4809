"""The hypotheses figure of the quadrant task says how far apart a model's hypotheses are."""

from __future__ import annotations

import torch

from plausible.models import CVAE
from plausible.tasks.conditional import _multiplicity


def _closed_form_kl(loc_q, scale_q, loc_p, scale_p) -> torch.Tensor:  # type: ignore[no-untyped-def]
    """KL between diagonal Gaussians, summed over dimensions: (B,)."""
    ratio = (scale_q / scale_p) ** 2
    terms = 0.5 * (ratio + ((loc_q - loc_p) / scale_p) ** 2 - 1.0 - torch.log(ratio))
    return terms.sum(-1)


def test_subtitle_reports_the_spread_and_the_closed_form_kl() -> None:
    torch.manual_seed(0)
    model = CVAE((6,), (4,), latent_dim=3, hidden_dims=(8,), prior="learned").double()
    x, y = torch.rand(5, 6, dtype=torch.float64), torch.rand(5, 4, dtype=torch.float64)
    samples = torch.rand(7, 5, 4, dtype=torch.float64)
    with torch.no_grad():
        q, p = model.recognize(x, y), model.prior(x)
        kl = _closed_form_kl(q.base_dist.loc, q.base_dist.scale, p.base_dist.loc, p.base_dist.scale)
        text = _multiplicity(model, x, y, samples)
    spread = samples.numpy().std(axis=0, ddof=1).mean()
    expected = f"KL(q(z|x,y) || p(z|x)) = {float(kl.mean()):.3g} nats"
    assert text == f"sd across samples {spread:.3f} per pixel; {expected}"


def test_identical_hypotheses_are_called_so() -> None:
    torch.manual_seed(0)
    model = CVAE((6,), (4,), latent_dim=3, hidden_dims=(8,))
    x, y = torch.rand(5, 6), torch.rand(5, 4)
    same = torch.rand(1, 5, 4).expand(8, 5, 4)
    with torch.no_grad():
        assert _multiplicity(model, x, y, same).startswith(
            "hypotheses nearly identical (sd across samples 0.000"
        )
        assert not _multiplicity(model, x, y, torch.rand(8, 5, 4)).startswith("hypotheses")
