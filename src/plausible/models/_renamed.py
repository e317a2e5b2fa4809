"""Old keyword names of model constructors, still accepted so saved run folders keep loading."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

__all__ = ["renamed_kwargs", "renamed_kwargs_of"]

M = TypeVar("M", bound=type)

_RENAMED: dict[type, dict[str, str]] = {}


def renamed_kwargs(**renames: str) -> Callable[[M], M]:
    """Class decorator: ``__init__`` also takes each old keyword name, as the new one.

    A config.json written before a rename still builds the same model. The signature (what
    ``inspect.signature`` and config validation see) shows only the new names.

    Args:
        renames: ``old_name="new_name"`` pairs.
    """

    def decorate(cls: M) -> M:
        init: Callable[..., None] = vars(cls)["__init__"]  # the class's own, not an inherited one

        @functools.wraps(init)
        def init_taking_old_names(self: Any, *args: Any, **kwargs: Any) -> None:
            for old, new in renames.items():
                if old in kwargs:
                    if new in kwargs:
                        raise TypeError(
                            f"{cls.__name__} got both {old}= (its old name) and {new}=; "
                            f"pass only {new}="
                        )
                    kwargs[new] = kwargs.pop(old)
            init(self, *args, **kwargs)

        setattr(cls, "__init__", init_taking_old_names)  # noqa: B010 (mypy forbids assigning a method)
        _RENAMED[cls] = {**_RENAMED.get(cls, {}), **renames}
        return cls

    return decorate


def renamed_kwargs_of(cls: type) -> Mapping[str, str]:
    """``{old_name: new_name}`` of the keyword arguments of ``cls`` that were renamed."""
    return dict(_RENAMED.get(cls, {}))
