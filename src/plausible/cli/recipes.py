"""``plausible recipes``: list the shipped recipes."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from plausible.cli._common import console

__all__ = ["recipes"]


def recipes() -> None:
    """List the recipes shipped with plausible, one line each.

    Example:

        plausible recipes
    """
    from plausible.config import list_recipes

    table = Table("recipe", "description", box=None, header_style="bold")
    for name, description in list_recipes().items():
        table.add_row(name, description)
    Console(width=max(console.width, 120)).print(table)
