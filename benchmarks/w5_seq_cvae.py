"""W5 seq-cvae: plausible's trainer against a plain PyTorch loop on a recurrent sequence CVAE.

Protocol (benchmarks.md): generated branching trajectories (seed 0), history 10 steps, future 20
steps, 2-D positions, 20,000 training sequences. GRU encoder/decoder of width 128, z = 32,
Mix-and-Match conditioning (rate 0.5), observation scale initialised at 0.05 (the data's noise
is 0.02), the step scale of the encoders and of the decoder (decoder_steps) the RMS change
between history frames; the CVAE bound (beta = 1), Adam 1e-3, batch 256, 5 epochs, 2 threads,
on the CPU. Throughput is measured with the two loops' epochs interleaved (plausible epoch 1,
reference epoch 1, ...), both from the same initial weights, so that load from other processes
hits both alike; the ratio is the median over epochs 2..N. After training, the forecast metric
at K = 50 on 300 test histories (seed 2) against the exact law: APD / APD_true, MMADE
(threshold 0.05) and mode coverage, for both models.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import torch
from torch import Tensor
from torch.distributions import kl_divergence

from benchmarks.common import machine, peak_rss_mb, race, write_result
from plausible.data.branching import BranchingLaw, make_branching
from plausible.metrics.forecasting import forecast_scores, ratio_summary
from plausible.metrics.suite import summary
from plausible.models.sequence import SequenceCVAE
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig

BATCH = 256
LR = 1e-3
#: Last observed positions closer than this (data units) share their futures in MMADE; the
#: branching task's own threshold.
MULTIMODAL_THRESHOLD = 0.05


def step_scale(x: Tensor) -> float:
    """RMS change per value between consecutive history frames of ``x`` ``(N, T_obs, D)``, as
    the forecasting tasks pass it to their models."""
    steps = x[:, 1:] - x[:, :-1]
    return round(float(steps.double().pow(2).mean().sqrt()), 6)


def build(seed: int, scale: float) -> SequenceCVAE:
    """The W5 model with the seed's initial weights."""
    torch.manual_seed(seed)
    return SequenceCVAE(
        x_shape=(10, 2),
        y_shape=(20, 2),
        latent_dim=32,
        hidden_size=128,
        conditioning="mix-and-match",
        rate=0.5,
        likelihood_init_scale=0.05,
        step_scale=scale,
        decoder_steps=True,
    )


def reference_epoch(
    model: SequenceCVAE,
    opt: torch.optim.Optimizer,
    x: Tensor,
    y: Tensor,
    batch: int,
    gen: torch.Generator,
) -> float:
    """One epoch of the plain loop: data as two tensors, batches by index. Returns seconds."""
    model.train()
    tic = time.perf_counter()
    perm = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), batch):
        idx = perm[i : i + batch]
        xb, yb = x[idx], y[idx]
        out = model(xb, yb, latent="posterior")
        # The negative CVAE bound: one latent draw (L = 1) and the closed-form KL.
        loss = (-out.p_y.log_prob(yb)[0] + kl_divergence(out.q_z, out.p_z)).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - tic


def quality(
    model: SequenceCVAE, x: Tensor, y: Tensor, law: BranchingLaw, k: int, seed: int
) -> dict[str, Any]:
    """The reproduction table's forecast figures of ``model`` at K = ``k`` (mean and standard
    error over test histories)."""
    scores = forecast_scores(
        model,
        x,
        y,
        num_samples=k,
        seed=seed,
        multimodal_threshold=MULTIMODAL_THRESHOLD,
        law=law,
    )
    return {
        "apd": summary(scores["apd"]),
        "apd_true": summary(scores["apd_true"]),
        "apd_ratio": ratio_summary(scores["apd"], scores["apd_true"]),
        "mmade": summary(scores["mmade"]),
        "coverage": summary(scores["coverage"]),
        "coverage_true": summary(scores["coverage_true"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="3 epochs, 512 training sequences, 100 test histories"
    )
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--num-samples", type=int, default=50, help="K futures per history")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0, help="weights, batches and samples")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(args.threads)
    epochs = 3 if args.quick else args.epochs
    if epochs < 2:
        parser.error(
            f"--epochs must be >= 2 (throughput is the median of epochs 2..N), not {epochs}"
        )
    train = make_branching(20000, seed=0, t_obs=10, t_pred=20)
    test = make_branching(300, seed=2, t_obs=10, t_pred=20)
    x, y = train["x"], train["y"]
    x_test, y_test = test["x"], test["y"]
    if args.quick:
        x, y, x_test, y_test = x[:512], y[:512], x_test[:100], y_test[:100]
    scale = step_scale(x)

    model, ref = build(args.seed, scale), build(args.seed, scale)
    cfg = TrainerConfig(
        epochs=1,
        batch_size=BATCH,
        lr=LR,
        seed=args.seed,
        device="cpu",  # the reference loop's device: the comparison is on the same one
        progress=False,
        tensorboard="off",
        log_every=100,
        num_threads=args.threads,
    )
    trainer = Trainer(model, ConfiguredObjective("cvae"), cfg)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=LR)
    ref_gen = torch.Generator().manual_seed(args.seed)
    timing = race(
        trainer,
        lambda: trainer.fit({"x": x, "y": y}),
        lambda: reference_epoch(ref, ref_opt, x, y, BATCH, ref_gen),
        epochs=epochs,
        examples=len(x),
        unit="sequences",
    )

    k = args.num_samples
    tic = time.perf_counter()
    scores = quality(model, x_test, y_test, test["law"], k, args.seed)
    eval_time = time.perf_counter() - tic
    ref_scores = quality(ref, x_test, y_test, test["law"], k, args.seed)
    result = {
        "workload": "W5 seq-cvae" + (" (quick)" if args.quick else ""),
        "protocol": {
            "data": "make_branching(seed=0, t_obs=10, t_pred=20); test make_branching(seed=2)",
            "train_sequences": len(x),
            "test_histories": len(x_test),
            "epochs": epochs,
            "batch_size": BATCH,
            "lr": LR,
            "objective": "cvae (beta = 1, L = 1, analytic KL)",
            "model": "SequenceCVAE: GRU 128, z = 32, mix-and-match rate 0.5, "
            f"likelihood_init_scale 0.05, step_scale {scale}, decoder_steps",
            "seed": args.seed,
            "threads": args.threads,
            "device": "cpu",
            "throughput": "interleaved epochs, median of 2..N, sequences/s",
            "forecast": f"K = {k} draws of p(y|x), multimodal_threshold {MULTIMODAL_THRESHOLD}, "
            "mean and standard error over test histories; apd_ratio with a delta-method error",
        },
        "machine": machine(),
        **timing,
        "peak_rss_mb": peak_rss_mb(),
        "forecast": scores,
        "eval_histories_per_s": len(x_test) / eval_time,
        "reference_loop_forecast": ref_scores,
    }
    path = write_result("w5_seq_cvae" + ("_quick" if args.quick else ""), result)
    logging.info(
        "ratio %.3f (%.0f vs %.0f sequences/s); APD/APD_true %.2f +- %.2f, MMADE %.3f, "
        "coverage %.3f (law %.3f), K=%d -> %s",
        result["throughput_ratio"],
        result["plausible_sequences_per_s"],
        result["reference_sequences_per_s"],
        scores["apd_ratio"]["mean"],
        scores["apd_ratio"]["stderr"],
        scores["mmade"]["mean"],
        scores["coverage"]["mean"],
        scores["coverage_true"]["mean"],
        k,
        path,
    )


if __name__ == "__main__":
    main()
