"""W6 dense-cvae: plausible's trainer against a plain PyTorch loop on a U-Net conditional VAE.

Protocol: generated disks with four graders of known frequency (make_annotated_shapes, seed 0),
32x32, 10,000 training images; the training target of each image is one grader's mask drawn
afresh in every batch from the graders' law (as the annotated-shapes task trains). The model
is the protocol's: the UC-Net-style DenseCVAE (feature expanding), U-Net channels 32-64-128,
16 feature channels, z = 8, Bernoulli pixels; the CVAE bound (beta = 1, L = 1, analytic KL),
Adam 1e-3, batch 64, 3 epochs, 2 threads, on the CPU. Throughput is measured with the two loops'
epochs interleaved (plausible epoch 1, reference epoch 1, ...), both from the same initial
weights, so that load from other processes hits both alike; the ratio is the median over epochs
2..N. After training, GED (squared, d = 1 - IoU) and Hungarian-matched IoU with K = 16 sampled
masks on 500 test images (seed 2) against the graders' law, for both models.

``--batch-size 32 --channels 16 32 64 --latent-dim 6 --style prob-unet`` runs the
prob-unet-annotated-shapes recipe's model instead.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any, Literal, cast

import torch
from torch import Tensor

from benchmarks.common import machine, peak_rss_mb, race, write_result
from plausible.data.annotators import make_annotated_shapes, resample_annotations
from plausible.data.task_data import TaskData
from plausible.metrics.segmentation import ambiguous_segmentation_metric
from plausible.models.dense import DenseCVAE
from plausible.objectives.cvae import cvae_loss
from plausible.training import ConfiguredObjective, Trainer, TrainerConfig

LR = 1e-3
SIZE = 32
Style = Literal["prob-unet", "ucnet"]

#: The tensors of a split that training sees: the image, a drawn mask and the graders' law.
TRAIN_KEYS = ("x", "y", "annotations", "annotation_probs")


def build(seed: int, style: Style, latent_dim: int, channels: tuple[int, ...]) -> DenseCVAE:
    """The W6 model with the seed's initial weights."""
    torch.manual_seed(seed)
    return DenseCVAE(
        x_shape=(1, SIZE, SIZE),
        y_shape=(1, SIZE, SIZE),
        latent_dim=latent_dim,
        style=style,
        channels=channels,
        feature_channels=16,
    )


def reference_epoch(
    model: DenseCVAE,
    opt: torch.optim.Optimizer,
    data: dict[str, Tensor],
    batch: int,
    gen: torch.Generator,
) -> float:
    """One epoch of the plain loop: data as tensors, batches by index, one grader's mask drawn
    per image and batch. Returns seconds."""
    x, annotations, probs = data["x"], data["annotations"], data["annotation_probs"]
    model.train()
    tic = time.perf_counter()
    perm = torch.randperm(len(x), generator=gen)
    for i in range(0, len(x), batch):
        idx = perm[i : i + batch]
        variant = torch.multinomial(probs[idx], 1, generator=gen)[:, 0]
        xb, yb = x[idx], annotations[idx, variant]
        out = model(xb, yb, latent="posterior")
        loss = cvae_loss(out, yb).loss.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - tic


def quality(model: DenseCVAE, test: dict[str, Tensor], k: int, seed: int) -> dict[str, Any]:
    """GED and HM-IoU of ``model``'s K sampled masks against the graders' law (mean and
    standard error over test images), with the samples' and the law's own diversity."""
    data = TaskData(train={}, val={}, test=test)
    settings = {"ambiguous-segmentation": {"num_samples": k, "num_examples": 0, "seed": seed}}
    scores = ambiguous_segmentation_metric(model, data, settings)
    return {
        key: scores[key] for key in ("ged", "hm_iou", "sample_diversity", "annotation_diversity")
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="3 epochs, 512 training images, 64 test images"
    )
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--num-train", type=int, default=10000, help="training images")
    parser.add_argument("--num-test", type=int, default=500, help="test images scored")
    parser.add_argument("--num-samples", type=int, default=16, help="K masks per test image")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--style", choices=("prob-unet", "ucnet"), default="ucnet")
    parser.add_argument("--latent-dim", type=int, default=8)
    parser.add_argument(
        "--channels", type=int, nargs="+", default=[32, 64, 128], help="U-Net channels per level"
    )
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
    num_train, num_test = (512, 64) if args.quick else (args.num_train, args.num_test)
    full = make_annotated_shapes(num_train, size=SIZE, seed=0)
    test = make_annotated_shapes(num_test, size=SIZE, seed=2)
    train = {key: full[key] for key in TRAIN_KEYS}
    batch, channels = args.batch_size, tuple(args.channels)
    style = cast(Style, args.style)

    model = build(args.seed, style, args.latent_dim, channels)
    ref = build(args.seed, style, args.latent_dim, channels)
    cfg = TrainerConfig(
        epochs=1,
        batch_size=batch,
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
        lambda: trainer.fit(train, transform=resample_annotations),
        lambda: reference_epoch(ref, ref_opt, train, batch, ref_gen),
        epochs=epochs,
        examples=num_train,
        unit="images",
    )

    k = args.num_samples
    tic = time.perf_counter()
    scores = quality(model, test, k, args.seed)
    eval_time = time.perf_counter() - tic
    ref_scores = quality(ref, test, k, args.seed)
    result = {
        "workload": "W6 dense-cvae" + (" (quick)" if args.quick else ""),
        "protocol": {
            "data": f"make_annotated_shapes(size={SIZE}, seed=0); test make_annotated_shapes("
            "seed=2); y redrawn from the graders' law in every batch",
            "train_images": num_train,
            "test_images": num_test,
            "epochs": epochs,
            "batch_size": batch,
            "lr": LR,
            "objective": "cvae (beta = 1, L = 1, analytic KL)",
            "model": f"DenseCVAE: style {args.style}, channels {'-'.join(map(str, channels))}, "
            f"feature_channels 16, z = {args.latent_dim}, bernoulli",
            "seed": args.seed,
            "threads": args.threads,
            "device": "cpu",
            "throughput": "interleaved epochs, median of 2..N, images/s",
            "segmentation": f"K = {k} masks model.sample(x, K, mean=True) > 0.5, squared GED "
            "(d = 1 - IoU) and HM-IoU against the graders' law, mean and standard error over "
            "test images",
        },
        "machine": machine(),
        **timing,
        "peak_rss_mb": peak_rss_mb(),
        "segmentation": scores,
        "eval_images_per_s": num_test / eval_time,
        "reference_loop_segmentation": ref_scores,
    }
    path = write_result("w6_dense_cvae" + ("_quick" if args.quick else ""), result)
    logging.info(
        "ratio %.3f (%.0f vs %.0f images/s); GED %.3f +- %.3f, HM-IoU %.3f +- %.3f "
        "(reference loop: GED %.3f, HM-IoU %.3f), K=%d -> %s",
        result["throughput_ratio"],
        result["plausible_images_per_s"],
        result["reference_images_per_s"],
        scores["ged"]["mean"],
        scores["ged"]["stderr"],
        scores["hm_iou"]["mean"],
        scores["hm_iou"]["stderr"],
        ref_scores["ged"]["mean"],
        ref_scores["hm_iou"]["mean"],
        k,
        path,
    )


if __name__ == "__main__":
    main()
