"""``plausible explore``: a local web page to wander a trained model's latent space."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from plausible.cli._common import console, friendly_errors, setup_logging

__all__ = ["explore"]


def explore(
    run: Annotated[Path, typer.Argument(help="Run folder written by `plausible train`.")],
    host: Annotated[
        str,
        typer.Option(
            "--host", help="Address to listen on; keep 127.0.0.1 unless others must reach it."
        ),
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", "-p", help="Port to listen on; 0 picks a free one.")
    ] = 0,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in the default web browser.")
    ] = False,
    threads: Annotated[
        int,
        typer.Option(
            "--threads", help="PyTorch CPU threads for decoding (1 is fastest for small models)."
        ),
    ] = 1,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request.")] = False,
) -> None:
    """Serve a web page that decodes the model's latent space live as you move sliders.

    Sliders move through z (the most informative dimensions first), a 2-D pad moves two of them,
    'dream' walks smoothly through the prior. Conditional models get a condition picker and
    several hypotheses side by side; mixture density networks show p(y|x) for a chosen input.

    Examples:

        plausible explore runs/vae-digits

        plausible explore runs/vae-digits --port 8765 --open
    """
    import torch

    from plausible.explore import explorer_for_run, make_server
    from plausible.runs import load_run

    setup_logging(verbose)
    if threads < 1:
        console.print(f"[bold red]error:[/bold red] --threads must be >= 1, got {threads}")
        raise typer.Exit(2)
    if not 0 <= port <= 65535:
        console.print(
            f"[bold red]error:[/bold red] --port must be in 0..65535 (0 picks a free "
            f"one), got {port}"
        )
        raise typer.Exit(2)
    with friendly_errors():
        explorer = explorer_for_run(load_run(run, device="cpu"))
        try:
            server = make_server(explorer, host, port)
        except OSError as err:
            raise ValueError(
                f"cannot listen on {host}:{port} ({err.strerror}); "
                "choose another --port, or --port 0 for a free one"
            ) from None
    console.print(
        f"[bold green]explorer[/bold green] for {run} ({explorer.kind} model): "
        f"[bold]{server.url}[/bold]",
        soft_wrap=True,
    )
    console.print("press Ctrl+C to stop", style="dim")
    torch.set_num_threads(threads)  # after start-up, which is faster with every thread
    if open_browser:
        import webbrowser

        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        server.server_close()
