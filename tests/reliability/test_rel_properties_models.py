"""Property tests of every model entry point: any tensor gives a correct result or a clear error.

A clear error is a ``ValueError`` or ``TypeError`` raised by plausible's own code (the last frame
of its traceback is in ``plausible``), with a message; never an error from deep inside torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from torch import nn

import plausible
import plausible.models.cvae  # registers cvae and conditional-baseline
import plausible.models.mdn
from plausible.distributions.checks import unchecked_distributions
from plausible.models import VAE
from plausible.registry import MODELS

FAST = settings(max_examples=40, deadline=None, derandomize=True)
PACKAGE = str(Path(plausible.__file__).parent)


@dataclass
class EntryPoint:
    """One method of one model, called with a generated tensor in one argument.

    Attributes:
        build: Builds the (tiny) model.
        call: ``(model, tensor) -> output``; other arguments are valid.
        shape: Shape of a valid argument without the batch axis.
        check: Asserts that the output of a valid call has the right shape.
    """

    build: Callable[[], nn.Module]
    call: Callable[[Any, Any], Any]
    shape: tuple[int, ...]
    check: Callable[[Any, int], None]


def _vae(**kw: Any) -> Callable[[], nn.Module]:
    return lambda: VAE((1, 4, 4), latent_dim=2, hidden_dims=(8,), **kw)


def _cvae() -> nn.Module:
    return MODELS.get("cvae")((3,), (1, 4, 4), latent_dim=2, hidden_dims=(8,))


def _baseline() -> nn.Module:
    return MODELS.get("conditional-baseline")((3,), (1, 4, 4), hidden_dims=(8,))


def _mdn() -> nn.Module:
    return MODELS.get("mdn")(2, 2, num_components=2, hidden_dims=(8,))


def _batch(expected: Callable[[int], tuple[int, ...]]) -> Callable[[Any, int], None]:
    def check(out: Any, batch: int) -> None:
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else tuple(out.batch_shape)
        assert shape == expected(batch), (shape, expected(batch))

    return check


def _fields(check: Callable[[Any, int], None], name: str) -> Callable[[Any, int], None]:
    return lambda out, batch: check(getattr(out, name), batch)


def _rows(t: Any) -> int:
    """Batch size of ``t`` for the other, valid argument (1 when ``t`` has none)."""
    return t.shape[0] if isinstance(t, torch.Tensor) and t.dim() else 1


X, Y, Z = (3,), (1, 4, 4), (2,)
ENTRY_POINTS: dict[str, EntryPoint] = {
    "vae.encode": EntryPoint(_vae(), lambda m, t: m.encode(t), Y, _batch(lambda b: (b,))),
    "vae.forward": EntryPoint(_vae(), lambda m, t: m(t), Y, _fields(_batch(lambda b: (b,)), "p_x")),
    "vae-conv.forward": EntryPoint(
        _vae(architecture="conv", conv_channels=(2,)),
        lambda m, t: m(t),
        Y,
        _fields(_batch(lambda b: (b,)), "p_x"),
    ),
    "vae.decode": EntryPoint(_vae(), lambda m, t: m.decode(t), Z, _batch(lambda b: (b,))),
    "vae.reconstruct": EntryPoint(
        _vae(), lambda m, t: m.reconstruct(t), Y, _batch(lambda b: (b, *Y))
    ),
    "cvae.prior": EntryPoint(_cvae, lambda m, t: m.prior(t), X, _batch(lambda b: (b,))),
    "cvae.recognize": EntryPoint(
        _cvae, lambda m, t: m.recognize(torch.zeros(_rows(t), *X), t), Y, _batch(lambda b: (b,))
    ),
    "cvae.generate": EntryPoint(
        _cvae, lambda m, t: m.generate(torch.zeros(_rows(t), *X), t), Z, _batch(lambda b: (b,))
    ),
    "cvae.sample": EntryPoint(_cvae, lambda m, t: m.sample(t, 2), X, _batch(lambda b: (2, b, *Y))),
    "conditional-baseline.predict": EntryPoint(
        _baseline, lambda m, t: m.predict(t), X, _batch(lambda b: (b, *Y))
    ),
    "mdn.forward": EntryPoint(_mdn, lambda m, t: m(t), (2,), _batch(lambda b: (b,))),
    "mdn.sample": EntryPoint(_mdn, lambda m, t: m.sample(t, 3), (2,), _batch(lambda b: (3, b, 2))),
}

VALUES = ("unit", "normal", "nan", "inf", "huge", "tiny")


@st.composite
def arguments(draw: st.DrawFn, valid: tuple[int, ...], dtypes: list[torch.dtype]) -> Any:
    """A tensor: the valid shape or any other, any dtype in ``dtypes``, tame or wild values."""
    batch = draw(st.integers(0, 3))
    shape = draw(
        st.just((batch, *valid)) | hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)
    )
    dtype = draw(st.sampled_from(dtypes))
    kind = draw(st.sampled_from(VALUES))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    t = torch.rand(shape, generator=g, dtype=torch.float64)
    if kind == "normal":
        t = torch.randn(shape, generator=g, dtype=torch.float64) * 3
    elif kind in ("nan", "inf") and t.numel():
        t.view(-1)[draw(st.integers(0, t.numel() - 1))] = float(kind)
    elif kind == "huge":
        t = t * 1e30
    elif kind == "tiny":
        t = t * 1e-40
    return t.to(dtype) if dtype.is_floating_point else (t * 255).to(dtype)


def _clear_error(err: BaseException) -> None:
    """``err`` was raised by plausible itself, with a message."""
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = tb.tb_frame.f_code.co_filename if tb is not None else "?"
    assert where.startswith(PACKAGE), f"{type(err).__name__} from inside {where}: {err}"
    assert len(str(err)) > 20, f"too terse: {err!r}"


def _call(entry: EntryPoint, model: nn.Module, arg: Any) -> Any:
    try:
        with torch.no_grad():
            return entry.call(model, arg)
    except (ValueError, TypeError) as err:
        _clear_error(err)
        return None


def _is_valid(arg: Any, entry: EntryPoint) -> bool:
    return (
        isinstance(arg, torch.Tensor)
        and arg.dtype == torch.float32
        and tuple(arg.shape[1:]) == entry.shape
        and bool(torch.isfinite(arg).all())
        and (arg.numel() == 0 or float(arg.abs().max()) < 1e6)
    )


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_any_float32_tensor_gives_a_result_or_a_clear_error(name: str) -> None:
    entry = ENTRY_POINTS[name]
    torch.manual_seed(0)
    model = entry.build().eval()

    @FAST
    @given(arg=arguments(entry.shape, [torch.float32]))
    def check(arg: torch.Tensor) -> None:
        out = _call(entry, model, arg)
        if _is_valid(arg, entry):
            assert out is not None, f"a valid input {tuple(arg.shape)} was refused"
            entry.check(out, len(arg))

    check()


@pytest.mark.parametrize("name", sorted(ENTRY_POINTS))
def test_any_dtype_or_non_tensor_gives_a_clear_error(name: str) -> None:
    entry = ENTRY_POINTS[name]
    model = entry.build().eval()
    dtypes = [torch.float64, torch.float16, torch.int64, torch.uint8, torch.bool]
    others = st.sampled_from([None, 3, [1.0, 2.0], np.zeros((2, *entry.shape), np.float32)])

    @FAST
    @given(arg=arguments(entry.shape, dtypes) | others)
    def check(arg: Any) -> None:
        _call(entry, model, arg)

    check()


@FAST
@given(n=st.integers(-5, 20) | st.floats(-2, 5) | st.sampled_from([True, None, "3", np.int64(4)]))
def test_vae_sample_takes_a_count_or_says_what_it_needs(n: Any) -> None:
    model = VAE((1, 4, 4), latent_dim=2, hidden_dims=(8,))
    try:
        out = model.sample(n)
    except ValueError as err:
        _clear_error(err)
        assert "num_samples must be an integer >= 0" in str(err)
    else:
        assert out.shape == (int(n), 1, 4, 4)


def test_vae_messages_teach() -> None:
    model = VAE((4,), latent_dim=2, hidden_dims=(8,))
    with pytest.raises(TypeError, match=r"x.float\(\) / 255"):
        model(torch.zeros(2, 4, dtype=torch.uint8))
    with pytest.raises(TypeError, match=r"torch\.as_tensor"):
        model(np.zeros((2, 4), np.float32))
    with pytest.raises(
        ValueError, match=r"x holds 1 NaN or infinite values \(first in example 1\)"
    ):
        model(torch.tensor([[0.0, 0, 0, 0], [0, float("nan"), 0, 0]]))
    with pytest.raises(ValueError, match=r"expects x of shape \(B, 4\), got \(2, 5\)"):
        model(torch.zeros(2, 5))
    with pytest.raises(ValueError, match=r"z must have shape \(\.\.\., latent_dim=2\), got \(\)"):
        model.decode(torch.tensor(1.0))


NAN_INPUTS = {  # entry points whose NaN input would reach a Bernoulli head unchecked
    "vae.decode": ("z", Z),
    "cvae.generate": ("z", Z),
    "conditional-baseline.predict": ("x", X),
}


@pytest.mark.parametrize("torch_checks", [True, False], ids=["torch-checks", "after-compile"])
@pytest.mark.parametrize("name", sorted(NAN_INPUTS))
def test_a_nan_input_to_a_bernoulli_head_is_refused_naming_the_example(
    name: str, torch_checks: bool
) -> None:
    # torch.compile turns torch.distributions' checks off for good; plausible's stay on.
    torch.distributions.Distribution.set_default_validate_args(torch_checks)
    entry = ENTRY_POINTS[name]
    argument, shape = NAN_INPUTS[name]
    model = entry.build().eval()
    bad = torch.zeros(3, *shape)
    bad[2, 0] = float("nan")
    with pytest.raises(ValueError, match=rf"{argument} holds 1 NaN .*\(first in example 2\)"):
        _call_raw(entry, model, bad)
    # In the trainer's steps the checks are off (each would wait for the device): the NaN guard
    # sees the non-finite output there instead.
    with unchecked_distributions():
        out = _call_raw(entry, model, bad)
    values = out if isinstance(out, torch.Tensor) else out.mean
    assert not torch.isfinite(values).all()


def _call_raw(entry: EntryPoint, model: nn.Module, arg: torch.Tensor) -> Any:
    with torch.no_grad():
        return entry.call(model, arg)
