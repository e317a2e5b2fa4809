"""Registries: kebab-case names, old underscore spellings still found, errors that list names."""

from __future__ import annotations

import pytest

from plausible.registry import Registry


def _registry() -> Registry[int]:
    reg: Registry[int] = Registry("widget")
    reg.register("conditional-baseline")(1)
    reg.register("vae")(2)
    return reg


def test_underscore_spellings_find_the_kebab_case_name() -> None:
    reg = _registry()
    assert reg.get("conditional_baseline") == reg.get("conditional-baseline") == 1
    assert reg.canonical("conditional_baseline") == "conditional-baseline"
    assert "conditional_baseline" in reg and "conditional-baseline" in reg
    assert reg.names() == ["conditional-baseline", "vae"]  # only the registered spelling


def test_names_that_differ_only_in_separators_cannot_both_be_registered() -> None:
    reg = _registry()
    with pytest.raises(ValueError, match="'conditional-baseline' is already registered"):
        reg.register("conditional_baseline")(3)
    assert reg.get("conditional-baseline") == 1


def test_register_returns_the_object_unchanged() -> None:
    reg: Registry[object] = Registry("thing")

    def fn(a: int) -> int:
        return a + 1

    assert reg.register("fn")(fn) is fn


@pytest.mark.parametrize("name", ["conditional baseline", "VAE", "", 3, None], ids=str)
def test_an_unknown_name_lists_the_valid_ones(name: object) -> None:
    reg = _registry()
    with pytest.raises(KeyError, match="valid widgets: conditional-baseline, vae"):
        reg.get(name)  # type: ignore[arg-type]
    assert name not in reg
