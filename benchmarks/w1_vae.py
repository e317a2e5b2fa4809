"""W1 fmnist-vae: plausible's trainer against a plain PyTorch loop, then IS-NLL at K = 1000.

Protocol (benchmarks.md): Fashion-MNIST, pixels/255 > 0.5, MLP 784-512-256 -> z = 32 ->
256-512-784 Bernoulli, Adam 1e-3, batch 128, 10 epochs, no annealing, 2 threads. Throughput is
measured with the two loops' epochs interleaved (plausible epoch 1, reference epoch 1, ...) so
that load from other processes hits both alike; the ratio is the median over epochs 2..10.
"""

from __future__ import annotations

import argparse
import logging
import time

import torch

from benchmarks.common import machine, peak_rss_mb, race, write_result
from plausible.data import binarize, load_dataset
from plausible.metrics import importance_sampled_nll, negative_elbo
from plausible.models import VAE
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig


def reference_epoch(
    model: VAE, opt: torch.optim.Optimizer, x: torch.Tensor, batch: int, gen: torch.Generator
) -> float:
    """One epoch of the plain loop: data as one tensor, batches by index. Returns seconds."""
    tic = time.perf_counter()
    perm = torch.randperm(len(x), generator=gen, device=x.device)
    for i in range(0, len(x), batch):
        xb = x[perm[i : i + batch]]
        q_z = model.encode(xb)
        z = q_z.rsample()
        p_x = model.decode(z)
        loss = (-p_x.log_prob(xb) + torch.distributions.kl_divergence(q_z, model.prior())).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - tic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 epochs, 20k images, K = 100 on 1k")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--num-samples", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--precision",
        choices=["fp32", "bf16"],
        default="fp32",
        help="plausible's trainer only; the reference loop stays fp32, evaluation is fp32",
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    torch.set_num_threads(2)
    epochs = 3 if args.quick else args.epochs
    k = 100 if args.quick else args.num_samples
    train = binarize(load_dataset("fashion-mnist", "train").images, "threshold")
    test = binarize(load_dataset("fashion-mnist", "test").images, "threshold")
    if args.quick:
        train, test = train[:20000], test[:1000]

    def build() -> VAE:
        torch.manual_seed(args.seed)
        return VAE((1, 28, 28), latent_dim=32, hidden_dims=(512, 256))

    model, ref = build(), build()
    cfg = TrainerConfig(
        epochs=0 + 1,
        batch_size=128,
        lr=1e-3,
        seed=args.seed,
        progress=False,
        tensorboard="off",
        log_every=100,
        num_threads=2,
        precision=args.precision,
    )
    trainer = Trainer(model, ConfiguredObjective("elbo"), cfg)
    ref_opt = torch.optim.Adam(ref.parameters(), lr=1e-3)
    ref_gen = torch.Generator().manual_seed(args.seed)
    timing = race(
        trainer,
        lambda: trainer.fit({"x": train}),
        lambda: reference_epoch(ref, ref_opt, train, 128, ref_gen),
        epochs=epochs,
        examples=len(train),
        unit="images",
    )
    tic = time.perf_counter()
    nll = importance_sampled_nll(model, test, num_samples=k, batch_size=100, memory_budget_mb=512)
    eval_time = time.perf_counter() - tic
    bound = negative_elbo(model, test)["negative_elbo"]
    ref_nll = importance_sampled_nll(ref, test[:1000], num_samples=min(k, 200))
    result = {
        "workload": "W1 fmnist-vae" + (" (quick)" if args.quick else ""),
        "protocol": {
            "train_images": len(train),
            "test_images": len(test),
            "epochs": epochs,
            "batch_size": 128,
            "lr": 1e-3,
            "binarize": "pixels/255 > 0.5",
            "model": "784-512-256-z32-256-512-784, Bernoulli",
            "seed": args.seed,
            "precision": f"{args.precision} (plausible's trainer; reference fp32; evaluation fp32)",
            "is_num_samples": k,
            "throughput": "interleaved epochs, median of 2..N",
        },
        "machine": machine(),
        **timing,
        "peak_rss_mb": peak_rss_mb(),
        "test_negative_elbo": bound.to_dict(),
        "test_nll": nll.to_dict(),
        "eval_images_per_s": len(test) / eval_time,
        "reference_loop_test_nll_first_1000_k200": ref_nll.mean,
    }
    name = (
        "w1_vae" + ("_bf16" if args.precision == "bf16" else "") + ("_quick" if args.quick else "")
    )
    path = write_result(name, result)
    logging.info(
        "ratio %.3f, NLL %.2f +- %.2f (K=%d) -> %s",
        result["throughput_ratio"],
        nll.mean,
        nll.stderr,
        k,
        path,
    )


if __name__ == "__main__":
    main()
