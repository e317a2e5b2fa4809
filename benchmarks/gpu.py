"""GPU rows of the benchmark protocol: W1 training on the device and W4 evaluation at K = 5000.

W1 (benchmarks.md): Fashion-MNIST, pixels/255 > 0.5, MLP 784-512-256 -> z = 32 -> 256-512-784
Bernoulli, Adam 1e-3, batch 128, 10 epochs, with the training set resident on the GPU. Trained
five times through plausible's trainer (fp32 and bf16 autocast, each eager and under
``torch.compile``, and fp32 compiled with CUDA graphs) and once by the plain reference loop
(data as one device tensor, batches by index), all from the same initial weights. Each trained
model is then scored by IS-NLL at K = 1000 on the 10,000 test images, in fp32.

W2 (``--w2``): the CVAE of Sohn et al. (2015) on 1 observed quadrant, grey levels, 10 epochs, in
the same four precision/compile variants, each evaluated by -log p(y|x) with S = 100 (MC and IS)
on the whole test set, and the baseline network in fp32 for the performance gap.

W4: IS-NLL of the fp32 model at K = 1000 and K = 5000 over the whole test set, batched over images
and samples, and at K = 1000 one image at a time (each image's K samples still one batch), to give
the speed-up of batching on this device.

Absolute times are quoted from this run only; every figure is made in the same process. The
order puts first what the device time is most needed for: fp32 W1, the reference loop, W4; then
the other W1 variants and W2. A part that fails is recorded under ``errors`` in the JSON and the
run goes on; the JSON is rewritten after every part, so a run cut short keeps what it measured.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from benchmarks.common import machine, peak_rss_mb, write_result
from benchmarks.w1_vae import reference_epoch
from plausible.checkpoint import read_json
from plausible.data import binarize, load_dataset
from plausible.metrics import importance_sampled_nll
from plausible.models import VAE
from plausible.reproduce import Sohn2015Settings
from plausible.reproduce.sohn2015 import run_config, training_steps_per_epoch
from plausible.runs import train_run
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig

# (precision, torch.compile mode or None for eager); reduce-overhead replays CUDA graphs.
VARIANTS: list[tuple[str, str | None]] = [
    ("fp32", None),
    ("bf16", None),
    ("fp32", "default"),
    ("bf16", "default"),
    ("fp32", "reduce-overhead"),
]


def build(seed: int) -> VAE:
    """The W1 model with the seed's initial weights."""
    torch.manual_seed(seed)
    return VAE((1, 28, 28), latent_dim=32, hidden_dims=(512, 256))


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn: Any) -> tuple[Any, float]:
    """``fn()`` and its wall time in seconds, with the device drained before and after."""
    synchronize()
    tic = time.perf_counter()
    out = fn()
    synchronize()
    return out, time.perf_counter() - tic


def train_variant(
    train: torch.Tensor, precision: str, compile_: str | None, epochs: int, seed: int
) -> tuple[VAE, dict[str, Any]]:
    """W1 through plausible's trainer; epoch 1 includes compilation and warm-up."""
    model = build(seed)
    config = TrainerConfig(
        epochs=epochs,
        batch_size=128,
        lr=1e-3,
        seed=seed,
        device=str(train.device),
        precision=precision,  # type: ignore[arg-type]
        compile=compile_ is not None,
        compile_mode=compile_ or "default",  # type: ignore[arg-type]
        progress=False,
        tensorboard="off",
        log_every=100,
    )
    trainer = Trainer(model, ConfiguredObjective("elbo"), config)
    _, wall = timed(lambda: trainer.fit({"x": train}))
    steady = trainer.epoch_times[1:]
    return model, {
        "precision": precision,
        "compile": compile_,
        "images_per_s": len(train) / statistics.median(steady),
        "first_epoch_s": trainer.epoch_times[0],
        "train_time_s": wall,
        "epoch_times_s": trainer.epoch_times,
    }


def host_syncs(train: torch.Tensor, seed: int, steps: int = 200) -> dict[str, Any] | None:
    """How often the trainer's steps make the host wait for the GPU (None on a CPU).

    CUDA's sync debug mode warns at every synchronising call; the steps between training rows
    should make none (``log_every`` = 50 here, so at most 4 rows in 200 steps).
    """
    if train.device.type != "cuda":
        return None
    config = TrainerConfig(
        epochs=1,
        batch_size=128,
        seed=seed,
        device=str(train.device),
        progress=False,
        tensorboard="off",
        log_every=50,
    )
    trainer = Trainer(build(seed), ConfiguredObjective("elbo"), config)
    subset = train[: 128 * steps]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        torch.cuda.set_sync_debug_mode("warn")
        try:
            trainer.fit({"x": subset})
        finally:
            torch.cuda.set_sync_debug_mode("default")
    syncs = [w for w in caught if "synchroniz" in str(w.message).lower()]
    return {"steps": trainer.step, "training_rows": trainer.step // 50, "host_syncs": len(syncs)}


def train_reference(train: torch.Tensor, epochs: int, seed: int) -> tuple[VAE, dict[str, Any]]:
    """The plain PyTorch loop of W1 on the device (fp32, eager, Adam's default kernel)."""
    model = build(seed).to(train.device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator(device=train.device).manual_seed(seed)
    times = []
    for _ in range(epochs):
        _, seconds = timed(lambda: reference_epoch(model, opt, train, 128, gen))
        times.append(seconds)
    return model, {
        "images_per_s": len(train) / statistics.median(times[1:]),
        "first_epoch_s": times[0],
        "train_time_s": sum(times),
        "epoch_times_s": times,
    }


def w2_runs(
    device: str, epochs: int, quick: bool, variants: list[tuple[str, str | None]]
) -> list[dict[str, Any]]:
    """W2 quadrant 1: the CVAE in every variant and the fp32 baseline, each trained and scored."""
    settings = Sohn2015Settings(
        dataset="digits" if quick else "fashion-mnist",
        quadrants=(1,),
        device=device,
        epochs=epochs,
        samples=100,
        eval_examples=0,
    )
    steps = training_steps_per_epoch(settings, settings.resolved_budget())
    jobs = [("cvae", precision, compile_) for precision, compile_ in variants]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for model, precision, compile_ in [*jobs, ("baseline", "fp32", None)]:
            config = run_config(settings, 1, model, steps_per_epoch=steps)
            config["training"].update(
                precision=precision,
                compile=compile_ is not None,
                compile_mode=compile_ or "default",
                progress=False,
            )
            run = Path(folder) / f"{model}-{precision}-{compile_}"
            _, wall = timed(lambda c=config, r=run: train_run(c, r))
            summary = read_json(run / "summary.json")
            test = {k: v for k, v in summary["test"].items() if not k.startswith("per_example")}
            row = {
                "model": model,
                "precision": precision,
                "compile": compile_,
                "seconds_per_epoch": summary["training"]["median_epoch_time_s"],
                "train_and_eval_s": wall,
                "test": test,
            }
            logging.info(
                "W2 %s %s compile=%s: %.2f s/epoch, -log p(y|x) %.2f",
                model,
                precision,
                compile_,
                row["seconds_per_epoch"],
                test["nll"]["mean"],
            )
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--memory-mb", type=float, default=16384.0, help="IS chunk budget")
    parser.add_argument("--loop-images", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="2 epochs, 5k images (a dry run)")
    parser.add_argument("--device", default="cuda", help="cpu only for a dry run of the script")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled variants")
    parser.add_argument("--w2", action="store_true", help="also the W2 quadrant-1 runs")
    parser.add_argument("--w2-no-compile", action="store_true", help="W2 without compile")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("benchmarks/gpu.py needs a CUDA device (or --device cpu for a dry run)")
    variants = [v for v in VARIANTS if not (args.no_compile and v[1] is not None)]
    epochs = 2 if args.quick else args.epochs
    train = binarize(load_dataset("fashion-mnist", "train").images, "threshold")
    test = binarize(load_dataset("fashion-mnist", "test").images, "threshold")
    if args.quick:
        train, test = train[:5000], test[:500]
    train, test = train.to(args.device), test.to(args.device)

    def nll(model: VAE, k: int, images: torch.Tensor, batch: int = 1000) -> dict[str, Any]:
        estimate, seconds = timed(
            lambda: importance_sampled_nll(
                model, images, num_samples=k, batch_size=batch, memory_budget_mb=args.memory_mb
            )
        )
        return {**estimate.to_dict(), "seconds": seconds, "images_per_s": len(images) / seconds}

    name = "gpu" if torch.cuda.is_available() else "gpu_dry_run_cpu"
    name += "_quick" if args.quick else ""
    result: dict[str, Any] = {
        "workload": "W1, W4 and W2 on a GPU" + (" (quick)" if args.quick else ""),
        "protocol": {
            "train_images": len(train),
            "test_images": len(test),
            "epochs": epochs,
            "batch_size": 128,
            "data": "resident on the GPU",
            "throughput": "median images/s of epochs 2..N; epoch 1 includes compilation",
            "is_eval": "fp32 (TF32 off), batches of 1000 images, chunk budget "
            f"{args.memory_mb:.0f} MiB",
            "seed": args.seed,
        },
        "machine": machine(),
        "trainer": [],
    }

    def save() -> None:
        """Write what is measured so far: a run cut short still leaves its figures."""
        if torch.cuda.is_available():
            result["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
        result["peak_rss_mb"] = peak_rss_mb()
        logging.info("wrote %s", write_result(name, result))

    def attempt(what: str, fn: Any) -> Any:
        """``fn()``, or None with the error recorded: one failing variant (a compiler missing on
        the machine, say) must not cost the figures of the others, or the device time."""
        try:
            return fn()
        except Exception as err:  # recorded and reported; the run goes on
            logging.exception("%s failed", what)
            result.setdefault("errors", {})[what] = f"{type(err).__name__}: {err}"
            save()
            return None

    # The figures the done-means need come first, in case the device time runs out.
    result["host_syncs_in_200_steps"] = attempt("host_syncs", lambda: host_syncs(train, args.seed))
    logging.info("host syncs while training: %s", result["host_syncs_in_200_steps"])
    trainer_runs: list[dict[str, Any]] = result["trainer"]

    def w1_variant(precision: str, compile_: str | None) -> VAE:
        model, row = train_variant(train, precision, compile_, epochs, args.seed)
        row["test_nll_k1000"] = nll(model, 1000, test)
        logging.info(
            "W1 %s compile=%s: %.0f images/s, %.1f s, NLL %.2f",
            precision,
            compile_,
            row["images_per_s"],
            row["train_time_s"],
            row["test_nll_k1000"]["mean"],
        )
        trainer_runs.append(row)
        save()
        return model

    fp32_model = w1_variant("fp32", None)

    def reference_row() -> dict[str, Any]:
        ref_model, reference = train_reference(train, epochs, args.seed)
        reference["test_nll_k1000"] = nll(ref_model, 1000, test)
        logging.info("W1 reference loop: %.0f images/s", reference["images_per_s"])
        return reference

    reference = attempt("reference_loop", reference_row)
    if reference is not None:
        result["reference_loop"] = reference
        result["trainer_fp32_eager_over_reference"] = (
            trainer_runs[0]["images_per_s"] / reference["images_per_s"]
        )
        save()

    def w4_rows() -> dict[str, Any]:
        w4: dict[str, Any] = {f"batched_k{k}": nll(fp32_model, k, test) for k in (1000, 5000)}
        loop = test[: args.loop_images]
        _, loop_seconds = timed(
            lambda: [
                importance_sampled_nll(fp32_model, loop[i : i + 1], num_samples=1000, batch_size=1)
                for i in range(len(loop))
            ]
        )
        w4["one_at_a_time_k1000_images_per_s"] = len(loop) / loop_seconds
        w4["speedup_k1000"] = w4["batched_k1000"]["images_per_s"] / (len(loop) / loop_seconds)
        logging.info(
            "W4: %.0f images/s at K=1000 (%.1fx one at a time), %.0f at K=5000",
            w4["batched_k1000"]["images_per_s"],
            w4["speedup_k1000"],
            w4["batched_k5000"]["images_per_s"],
        )
        return w4

    result["w4"] = attempt("w4", w4_rows)
    save()
    for precision, compile_ in variants:
        if (precision, compile_) != ("fp32", None):
            attempt(f"w1_{precision}_{compile_}", lambda p=precision, c=compile_: w1_variant(p, c))
    if args.w2:
        # W2 keeps to the four precision/compile variants (no CUDA graphs) to save device time.
        w2_variants = [
            v
            for v in variants
            if v[1] in (None, "default") and not (args.w2_no_compile and v[1] is not None)
        ]
        result["w2_quadrant_1"] = attempt(
            "w2", lambda: w2_runs(args.device, epochs, args.quick, w2_variants)
        )
        save()


if __name__ == "__main__":
    main()
