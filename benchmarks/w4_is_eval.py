"""W4 is-eval: importance-sampled NLL at K = 1000, batched over images and samples, against a
loop over one image at a time, on the W1 model and test set (same run, same weights).

A third row runs the batched estimator without its CPU cap on decoder rows per chunk (so only the
memory budget sizes the chunks), to show what the cap is worth on this machine.
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

import plausible.metrics.likelihood as likelihood
from benchmarks.common import machine, peak_rss_mb, write_result
from plausible.data import binarize, load_dataset
from plausible.metrics import importance_sampled_nll
from plausible.models import VAE


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="500 images batched, 50 looped")
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--loop-images", type=int, default=200)
    parser.add_argument("--memory-mb", type=float, default=512.0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(2)
    images = 500 if args.quick else args.images
    loop_images = 50 if args.quick else args.loop_images
    test = binarize(load_dataset("fashion-mnist", "test").images, "threshold")
    torch.manual_seed(0)
    model = VAE((1, 28, 28), latent_dim=32, hidden_dims=(512, 256)).eval()
    k = args.num_samples

    def batched_rate() -> tuple[float, float]:
        tic = time.perf_counter()
        estimate = importance_sampled_nll(
            model, test[:images], num_samples=k, batch_size=100, memory_budget_mb=args.memory_mb
        )
        return images / (time.perf_counter() - tic), estimate.mean

    rate, batched_nll = batched_rate()
    capped = likelihood.CPU_ROWS_PER_CHUNK
    likelihood.CPU_ROWS_PER_CHUNK = 2**62  # the budget alone sizes the chunks
    uncapped_rate, _ = batched_rate()
    likelihood.CPU_ROWS_PER_CHUNK = capped

    tic = time.perf_counter()
    looped = [
        importance_sampled_nll(
            model, test[i : i + 1], num_samples=k, batch_size=1, memory_budget_mb=args.memory_mb
        ).mean
        for i in range(loop_images)
    ]
    loop_rate = loop_images / (time.perf_counter() - tic)
    same = abs(
        sum(looped) / loop_images
        - float(importance_sampled_nll(model, test[:loop_images], num_samples=k).mean)
    )
    result = {
        "workload": "W4 is-eval" + (" (quick)" if args.quick else ""),
        "protocol": {
            "num_samples": k,
            "batched_images": images,
            "looped_images": loop_images,
            "batch_size": 100,
            "memory_budget_mb": args.memory_mb,
            "model": "W1 architecture (784-512-256-z32), untrained weights: speed only",
        },
        "machine": machine(),
        "batched_images_per_s": rate,
        "batched_without_cpu_row_cap_images_per_s": uncapped_rate,
        "cpu_rows_per_chunk": capped,
        "one_at_a_time_images_per_s": loop_rate,
        "speedup": rate / loop_rate,
        "row_cap_speedup": rate / uncapped_rate,
        "peak_rss_mb": peak_rss_mb(),
        "batched_nll_nats": batched_nll,
        "loop_vs_batched_mean_difference_nats": same,
    }
    path = write_result("w4_is_eval_quick" if args.quick else "w4_is_eval", result)
    logging.info(
        "batched %.1f img/s (%.1f uncapped), one at a time %.1f img/s, speedup %.1fx -> %s",
        rate,
        uncapped_rate,
        loop_rate,
        result["speedup"],
        path,
    )


if __name__ == "__main__":
    main()
