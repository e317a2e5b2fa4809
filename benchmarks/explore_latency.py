"""Explorer round-trip latency: POST /api/decode over HTTP keep-alive, as the page does it.

Protocol: a 28 x 28 VAE (the W1 MLP 784-512-256 -> z = 32 and a conv VAE with channels
32-64-128, z = 32; untrained weights, since latency does not depend on their values) is served by
``plausible.explore`` in a separate process (torch threads as in ``plausible explore``, 1 by
default). The client, like the page, keeps one HTTP/1.1 connection open and sends one request at a
time: a slider drag, i.e. z values that move by small steps, decoded to a base64 PNG. Figures:
round-trip median / p90 / p99 / max in ms over ``--requests`` requests after 30 warm-up requests,
the server's own time per request, the response size, and as a same-run reference the bare
in-process decode + PNG encode time (no HTTP, no JSON). The target is a median under 50 ms.

Run: ``python -m benchmarks.explore_latency`` (add ``--run runs/vae-digits`` to time a real run).
"""

from __future__ import annotations

import argparse
import http.client
import json
import logging
import multiprocessing as mp
import statistics
import time
from typing import Any

import numpy as np
import torch

from benchmarks.common import machine, write_result

TARGET_MS = 50.0


def _models() -> dict[str, dict[str, Any]]:
    return {
        "mlp-28x28-z32": {"x_shape": (1, 28, 28), "latent_dim": 32, "hidden_dims": (512, 256)},
        "conv-28x28-z32": {
            "x_shape": (1, 28, 28),
            "latent_dim": 32,
            "architecture": "conv",
            "conv_channels": (32, 64, 128),
            "hidden_dims": (256,),
        },
    }


def _explorer(name: str, run: str | None) -> Any:
    from plausible.explore import explorer_for_run, make_explorer
    from plausible.models import VAE
    from plausible.runs import load_run
    from plausible.tasks.base import TaskData

    if run:
        return explorer_for_run(load_run(run))
    torch.manual_seed(0)
    model = VAE(**_models()[name]).eval()
    images = lambda n: {"x": torch.rand(n, 1, 28, 28)}  # noqa: E731
    return make_explorer(
        model,
        TaskData(train=images(10), val=images(10), test=images(200), info={"x_shape": (1, 28, 28)}),
        model_name=name,
    )


def _serve(name: str, run: str | None, threads: int, queue: Any) -> None:
    from plausible.explore import make_server

    logging.basicConfig(level=logging.WARNING)
    torch.set_num_threads(threads)
    server = make_server(_explorer(name, run), "127.0.0.1", 0)
    queue.put(server.server_address[1])
    server.serve_forever()


def _get(conn: http.client.HTTPConnection, path: str) -> bytes:
    conn.request("GET", path)
    return conn.getresponse().read()


def _bare_decode_ms(name: str, run: str | None, threads: int, n: int) -> float:
    """Median in-process ``decode`` + PNG encoding time, the reference without HTTP."""
    from plausible.explore.png import png_data_url

    torch.set_num_threads(threads)
    explorer = _explorer(name, run)
    model, dim = explorer.model, explorer.latent_dim
    times = []
    with torch.no_grad():
        for i in range(n + 30):
            tic = time.perf_counter()
            image = model.decode(torch.full((1, dim), 0.01 * (i % 200))).mean[0]
            png_data_url(image.reshape(image.shape[-2:]).numpy())
            if i >= 30:
                times.append(1000 * (time.perf_counter() - tic))
    return statistics.median(times)


def _measure(name: str, run: str | None, threads: int, requests: int) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_serve, args=(name, run, threads, queue), daemon=True)
    proc.start()
    try:
        port = queue.get(timeout=300)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        info_dim = json.loads(_get(conn, "/api/info"))["latent_dim"]
        rng = np.random.default_rng(0)
        z = np.zeros(info_dim)
        round_trips, server_ms, sizes = [], [], []
        for i in range(requests + 30):
            z[rng.integers(info_dim)] = np.clip(z[0] + rng.normal(0, 0.3), -3, 3)  # a drag step
            body = json.dumps({"z": [round(float(v), 4) for v in z]})
            tic = time.perf_counter()
            conn.request(
                "POST", "/api/decode", body=body, headers={"Content-Type": "application/json"}
            )
            response = conn.getresponse()
            payload = response.read()
            elapsed = 1000 * (time.perf_counter() - tic)
            if response.status != 200:
                raise RuntimeError(f"decode answered {response.status}: {payload[:200]!r}")
            if i >= 30:
                round_trips.append(elapsed)
                server_ms.append(json.loads(payload)["elapsed_ms"])
                sizes.append(len(payload))
        conn.close()
    finally:
        proc.terminate()
        proc.join(timeout=10)
    q = np.percentile(round_trips, [50, 90, 99])
    return {
        "model": run or name,
        "latent_dim": info_dim,
        "threads": threads,
        "requests": requests,
        "round_trip_ms": {
            "median": round(float(q[0]), 3),
            "p90": round(float(q[1]), 3),
            "p99": round(float(q[2]), 3),
            "mean": round(statistics.fmean(round_trips), 3),
            "max": round(max(round_trips), 3),
        },
        "server_ms_median": round(statistics.median(server_ms), 3),
        "response_bytes_median": int(statistics.median(sizes)),
        "bare_decode_png_ms_median": round(_bare_decode_ms(name, run, threads, 200), 3),
        "under_target": bool(q[0] < TARGET_MS),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=500, help="timed requests per model")
    parser.add_argument(
        "--threads",
        type=int,
        nargs="+",
        default=[1, 2],
        help="torch threads of the server (plausible explore uses 1)",
    )
    parser.add_argument("--run", default=None, help="time this run folder instead")
    args = parser.parse_args()
    names = [args.run] if args.run else list(_models())
    results = [
        _measure(name if not args.run else "run", args.run, t, args.requests)
        for name in names
        for t in args.threads
    ]
    for r in results:
        rt = r["round_trip_ms"]
        print(
            f"{r['model']:>16} threads={r['threads']}: median {rt['median']:.2f} ms, "
            f"p90 {rt['p90']:.2f}, p99 {rt['p99']:.2f} (server {r['server_ms_median']:.2f} ms, "
            f"bare decode+PNG {r['bare_decode_png_ms_median']:.2f} ms, "
            f"{r['response_bytes_median']} B)"
        )
    path = write_result(
        "explore_latency",
        {
            "benchmark": "explore-latency",
            "protocol": __doc__,
            "target_ms": TARGET_MS,
            "results": results,
            "machine": machine(),
        },
    )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
