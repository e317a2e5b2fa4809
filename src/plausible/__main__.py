"""``python -m plausible`` runs the command-line interface."""

from plausible.cli.main import main

main()
