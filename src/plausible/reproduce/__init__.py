"""Reproductions of published experiments, each one module with one entry point."""

from plausible.reproduce.sohn2015 import BUDGETS, Budget, Sohn2015Settings, reproduce_sohn2015

__all__ = ["BUDGETS", "Budget", "Sohn2015Settings", "reproduce_sohn2015"]
