"""Named registries so the CLI and recipes find models, datasets, objectives and metrics."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, cast

from torch import nn

__all__ = ["DATASETS", "METRICS", "MODELS", "OBJECTIVES", "TASKS", "Registry"]

T = TypeVar("T")
U = TypeVar("U")


def _key(name: str) -> str:
    # Names are kebab-case; older recipes and run folders spell some with underscores.
    return name.replace("_", "-")


class Registry(Generic[T]):
    """A name -> object mapping filled by a ``register(name)`` decorator.

    Names are kebab-case (``conditional-baseline``). A lookup does not tell ``-`` from ``_``, so
    a name spelled with underscores in an older recipe or run folder (``mdn_nll`` for
    ``mdn-nll``) still finds its object; two names that differ only so cannot both be registered.

    Args:
        kind: What the registry holds, used in error messages ("model", "dataset", ...).
        filled_by: The package whose import registers the shipped entries; it is imported at the
            first lookup, so ``import plausible`` stays light and a registry is never seen empty.
    """

    def __init__(self, kind: str, filled_by: str | None = None) -> None:
        self.kind = kind
        self.filled_by = filled_by
        self._items: dict[str, T] = {}
        self._names: dict[str, str] = {}  # lookup key -> the name as registered

    def _fill(self) -> None:
        if self.filled_by is not None:
            name, self.filled_by = self.filled_by, None
            importlib.import_module(name)

    def register(self, name: str) -> Callable[[U], U]:
        """Decorator that registers an object under ``name``; duplicate names are refused.

        The decorated object is returned unchanged (its own type, not the registry's).
        """

        def decorate(obj: U) -> U:
            key = _key(name)
            if key in self._names:
                taken = self._names[key]
                raise ValueError(
                    f"a {self.kind} named {taken!r} is already registered "
                    f"({self._items[taken]!r}); choose another name than {name!r}"
                )
            self._names[key] = name
            self._items[name] = cast(T, obj)
            return obj

        return decorate

    def canonical(self, name: str) -> str:
        """The registered spelling of ``name`` (``mdn_nll`` -> ``mdn-nll``); else ``KeyError``."""
        self._fill()
        try:
            return self._names[_key(name)]
        except (KeyError, AttributeError):  # AttributeError: name is not a string
            valid = ", ".join(sorted(self._items)) or "(none registered)"
            raise KeyError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {valid}") from None

    def get(self, name: str) -> T:
        """Look up ``name``; an unknown name raises a ``KeyError`` listing the valid ones."""
        return self._items[self.canonical(name)]

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._fill()
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        self._fill()
        return isinstance(name, str) and _key(name) in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self._fill()
        return len(self._items)


MODELS: Registry[type[nn.Module]] = Registry("model", "plausible.models")
DATASETS: Registry[Callable[..., Any]] = Registry("dataset", "plausible.data")
TASKS: Registry[type[Any]] = Registry("task", "plausible.tasks")
OBJECTIVES: Registry[Callable[..., Any]] = Registry("objective", "plausible.objectives")
METRICS: Registry[Callable[..., Any]] = Registry("metric", "plausible.metrics")
