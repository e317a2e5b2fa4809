"""Named registries so the CLI and recipes find models, datasets, objectives and metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

__all__ = ["DATASETS", "METRICS", "MODELS", "OBJECTIVES", "TASKS", "Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object mapping filled by a ``register(name)`` decorator.

    Args:
        kind: What the registry holds, used in error messages ("model", "dataset", ...).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator that registers an object under ``name``; duplicate names are refused."""

        def decorate(obj: T) -> T:
            if name in self._items:
                raise ValueError(
                    f"a {self.kind} named {name!r} is already registered "
                    f"({self._items[name]!r}); choose another name"
                )
            self._items[name] = obj
            return obj

        return decorate

    def get(self, name: str) -> T:
        """Look up ``name``; an unknown name raises a ``KeyError`` listing the valid ones."""
        try:
            return self._items[name]
        except KeyError:
            valid = ", ".join(sorted(self._items)) or "(none registered)"
            raise KeyError(f"unknown {self.kind} {name!r}; valid {self.kind}s: {valid}") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._items)


MODELS: Registry = Registry("model")
DATASETS: Registry = Registry("dataset")
TASKS: Registry = Registry("task")
OBJECTIVES: Registry = Registry("objective")
METRICS: Registry = Registry("metric")
