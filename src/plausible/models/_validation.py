"""Input checks shared by the models' public entry points: errors that say what to do."""

from __future__ import annotations

import itertools
import math
import numbers
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import torch
from torch import Tensor, nn

from plausible.distributions.checks import checks_enabled

__all__ = [
    "apply_head",
    "check_batch",
    "check_count",
    "check_finite",
    "check_tensor",
    "nonfinite_error",
]

D = TypeVar("D")


def check_tensor(value: object, name: str, where: str, module: nn.Module) -> Tensor:
    """``value`` if it is a floating tensor with ``module``'s dtype and device, else an error.

    Args:
        value: What the caller passed.
        name: Its argument name, e.g. ``"x"``.
        where: The entry point, e.g. ``"VAE.encode"``.
        module: The model; its first parameter (or buffer) sets the expected dtype and device.

    Raises:
        TypeError: ``value`` is not a tensor, not floating point, or of another dtype.
        ValueError: ``value`` is on another device.
    """
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{where} expects {name} as a torch.Tensor, got {type(value).__name__}; "
            f"convert it with torch.as_tensor({name}, dtype=torch.float32)"
        )
    like = next(itertools.chain(module.parameters(), module.buffers()), None)
    dtype = like.dtype if like is not None else torch.get_default_dtype()
    if not value.is_floating_point():
        hint = f" (8-bit images: {name}.float() / 255)" if value.dtype == torch.uint8 else ""
        raise TypeError(
            f"{where} expects a floating-point {name}, got dtype {value.dtype}; convert it with "
            f"{name}.to({dtype}){hint}"
        )
    if like is None:
        return value
    if value.dtype != like.dtype and not _autocast_dtype(value):
        raise TypeError(
            f"{where}: {name} has dtype {value.dtype} but the model's parameters are "
            f"{like.dtype}; convert one of them ({name}.to({like.dtype}) or "
            f"model.to({value.dtype}))"
        )
    if value.device != like.device:
        raise ValueError(
            f"{where}: {name} is on {value.device} but the model is on {like.device}; "
            f"move it with {name}.to({str(like.device)!r})"
        )
    return value


def _autocast_dtype(value: Tensor) -> bool:
    """Whether ``value`` has the dtype that autocast (mixed precision) is producing on its
    device: inside ``torch.autocast`` an encoder's output, hence ``z``, comes out in it."""
    kind = value.device.type
    return torch.is_autocast_enabled(kind) and value.dtype == torch.get_autocast_dtype(kind)


def check_batch(
    value: object, shape: tuple[int, ...], name: str, where: str, module: nn.Module
) -> Tensor:
    """A checked tensor of shape ``(B, *shape)``; a flat ``(B, prod(shape))`` (or the reverse)
    is reshaped. Works for an empty batch (``B = 0``).

    Raises:
        TypeError: See :func:`check_tensor`.
        ValueError: On another device, or a shape that is not one example per row of ``shape``.
    """
    t = check_tensor(value, name, where, module)
    if tuple(t.shape[1:]) == shape:
        return t
    if t.dim() >= 2 and math.prod(t.shape[1:]) == math.prod(shape):
        return t.reshape(t.shape[0], *shape)
    raise ValueError(
        f"{where} expects {name} of shape (B, {', '.join(map(str, shape))}), got "
        f"{tuple(t.shape)}; check that the model's {name}_shape matches the data"
    )


def check_count(value: object, name: str, where: str, minimum: int = 0) -> int:
    """``value`` as an ``int`` if it is an integer (not a bool) ``>= minimum``; else ValueError."""
    if isinstance(value, bool) or not isinstance(value, int | numbers.Integral) or value < minimum:
        raise ValueError(f"{where}: {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_finite(value: Tensor, name: str) -> Tensor:
    """``value``, unless it holds NaN or infinity: then a ValueError naming the first example.

    For inputs that reach a head without argument checks (Bernoulli), where a NaN would come out
    as NaN outputs. Follows torch.distributions' switch for such checks: off in the trainer's
    steps, where reading the verdict would make the host wait for the device and the NaN guard
    catches the result instead.
    """
    if checks_enabled() and value.numel() and not bool(torch.isfinite(value).all()):
        raise nonfinite_error(ValueError(f"{name} is not finite"), "network", **{name: value})
    return value


def nonfinite_error(err: ValueError, net: str, **inputs: Tensor) -> ValueError:
    """Explain a distribution that refused its parameters: a bad input, or overflow.

    Args:
        err: What torch.distributions raised.
        net: The network that produced the parameters, e.g. ``"encoder"``.
        **inputs: The tensors that went into it, by argument name; the first holding NaN or
            infinite values is blamed.
    """
    for name, value in inputs.items():
        bad = ~torch.isfinite(value)
        if bool(bad.any()):
            rows = bad.reshape(len(value), -1).any(1).nonzero() if value.dim() > 1 else None
            first = f" (first in example {int(rows[0])})" if rows is not None else ""
            return ValueError(
                f"{name} holds {int(bad.sum())} NaN or infinite values{first}; clean the data "
                "(drop those examples or replace the values) before passing it to the model"
            )
    names = " and ".join(inputs)
    largest = ", ".join(
        f"largest |{n}| = {float(v.abs().max()) if v.numel() else 0.0:.3g}"
        for n, v in inputs.items()
    )
    dtype = next(iter(inputs.values())).dtype if inputs else torch.get_default_dtype()
    return ValueError(
        f"the {net} produced non-finite parameters from a finite {names} ({largest}): values "
        f"this large overflow {dtype}; rescale {names} (images to [0, 1], other data to unit "
        f"scale). Torch said: {str(err).splitlines()[0][:200]}"
    )


def apply_head(
    head: Callable[[Any], D],
    raw: Tensor | Sequence[Tensor],
    net: str,
    **inputs: Tensor,
) -> D:
    """``head(raw)``; when torch.distributions refuses non-finite parameters, an error that names
    the input to blame (see :func:`nonfinite_error`). Costs nothing unless torch refuses.

    Args:
        head: Maps the network's raw output to a distribution.
        raw: That raw output (a list for multi-scale outputs).
        net: Name of the network, for the message.
        **inputs: The network's inputs, by argument name.
    """
    try:
        return head(raw)
    except ValueError as err:
        parts = [raw] if isinstance(raw, Tensor) else list(raw)
        if all(bool(torch.isfinite(p).all()) for p in parts):
            raise
        raise nonfinite_error(err, net, **inputs) from err
