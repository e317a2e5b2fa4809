"""Training speed on a busy CPU: the demo and a W1-sized VAE, alone and beside a competing process.

Each measurement is one ``plausible train`` process (the real command line, so the OpenMP wait
policy it sets applies) whose summary.json gives the median epoch time. Two thread policies are
compared in the same run:

- ``auto``: today's defaults (``training.num_threads = 0``: one thread for models under half a
  million parameters, PyTorch's default otherwise; the command line sets
  ``OMP_WAIT_POLICY=PASSIVE``);
- ``two-active``: the earlier behaviour (two threads, OpenMP threads spinning while they wait).

The competing process is a Python busy loop, started before training and stopped after it. The
done-means of the thread fix: with one competing process the demo's epoch time stays within 2x of
its idle time. Results: benchmarks/results/busy_cpu.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.common import machine, write_result

WORKLOADS: dict[str, list[str]] = {
    # The demo itself, a few epochs.
    "demo": ["vae-digits", "--set", "training.epochs={epochs}"],
    # W1's model (784-512-256, z = 32, 1.1 M parameters) on Fashion-MNIST, 10k images.
    "w1-sized": [
        "vae-fashion-mnist",
        "--set",
        "training.epochs={epochs}",
        "--set",
        "task.max_train=10000",
        "--set",
        "model.latent_dim=32",
        "--set",
        "model.hidden_dims=[512, 256]",
    ],
}
POLICIES: dict[str, tuple[list[str], dict[str, str]]] = {
    "auto": ([], {}),
    "two-active": (["--set", "training.num_threads=2"], {"OMP_WAIT_POLICY": "ACTIVE"}),
}


def median_epoch_time(workload: str, policy: str, epochs: int, busy: bool) -> float:
    """Median epoch time (s) of one ``plausible train`` run, with or without a busy neighbour."""
    extra, env_extra = POLICIES[policy]
    args = [a.format(epochs=epochs) for a in WORKLOADS[workload]]
    env = {**os.environ, **env_extra, "PLAUSIBLE_NO_TENSORBOARD": "1"}
    if policy == "auto":
        env.pop("OMP_WAIT_POLICY", None)  # the command line chooses
    neighbour = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if busy else None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "run"
            command = [sys.executable, "-m", "plausible.cli.main", "train", *args, *extra]
            command += ["--set", "training.progress=false", "--no-eval", "--out", str(out)]
            subprocess.run(
                command,
                check=True,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            summary = json.loads((out / "summary.json").read_text())
    finally:
        if neighbour is not None:
            neighbour.kill()
            neighbour.wait()
    return float(summary["training"]["median_epoch_time_s"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    args = parser.parse_args()
    rows: list[dict[str, Any]] = []
    for workload in args.workloads:
        for policy in POLICIES:
            idle = median_epoch_time(workload, policy, args.epochs, busy=False)
            busy = median_epoch_time(workload, policy, args.epochs, busy=True)
            rows.append(
                {
                    "workload": workload,
                    "policy": policy,
                    "idle_epoch_s": idle,
                    "busy_epoch_s": busy,
                    "busy_over_idle": busy / idle,
                }
            )
            print(
                f"{workload:>9} {policy:>10}: idle {idle:.3f} s/epoch, with a busy neighbour "
                f"{busy:.3f} s/epoch ({busy / idle:.2f}x)",
                flush=True,
            )
    write_result("busy_cpu", {"machine": machine(), "epochs": args.epochs, "rows": rows})


if __name__ == "__main__":
    main()
