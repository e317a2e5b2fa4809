"""Trainer settings: the recipe's ``[training]`` table."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["TrainerConfig"]


@dataclass
class TrainerConfig:
    """Everything the trainer needs besides the model, objective and data.

    Attributes:
        epochs: Passes over the training data.
        batch_size: Examples per optimisation step (per process under data parallelism).
        lr: Learning rate.
        optimizer: ``adam`` or ``adamw``.
        weight_decay: Decoupled weight decay for ``adamw``, L2 for ``adam``.
        lr_schedule: ``constant``, ``cosine`` (to zero over all steps) or ``plateau``
            (halve when the validation loss stalls for ``early_stopping_patience // 2`` epochs).
        grad_clip: Clip the global gradient norm to this value; 0 turns clipping off.
        early_stopping_patience: Stop after this many epochs without a better validation loss;
            0 turns early stopping off.
        restore_best: Load the weights of the best validation epoch at the end.
        val_every: Validate every this many epochs.
        log_every: Write a training row to metrics.jsonl every this many steps.
        checkpoint_every: Also checkpoint every this many steps (0: at epoch ends only).
        max_nonfinite: Stop after this many consecutive batches with a non-finite loss or gradient.
        seed: Seed for weights, batches and sampling.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda`` or ``cuda:N``.
        precision: ``fp32`` or ``bf16``: autocast on CUDA and CPU, where it pays only on CPUs
            with native bfloat16 instructions (AVX512-BF16 or AMX); densities stay float32.
        compile: Wrap the model in ``torch.compile``.
        compile_mode: ``torch.compile``'s mode: ``default``, ``reduce-overhead`` (replays the
            step's kernels as CUDA graphs on a GPU, for small models whose steps are launch
            bound) or ``max-autotune``; only with ``compile = true``.
        num_threads: CPU threads for PyTorch; 0 (automatic) trains models under half a million
            parameters on one thread on a CPU (a second thread gains nothing there and costs
            several-fold on a busy machine) and keeps PyTorch's default otherwise.
        progress: Show a progress bar (only when the console is interactive).
        tensorboard: ``auto`` (when installed), ``on`` or ``off``.
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 1e-3
    optimizer: Literal["adam", "adamw"] = "adam"
    weight_decay: float = 0.0
    lr_schedule: Literal["constant", "cosine", "plateau"] = "constant"
    grad_clip: float = 0.0
    early_stopping_patience: int = 0
    restore_best: bool = True
    val_every: int = 1
    log_every: int = 50
    checkpoint_every: int = 0
    max_nonfinite: int = 20
    seed: int = 0
    device: str = "auto"
    precision: Literal["fp32", "bf16"] = "fp32"
    compile: bool = False
    compile_mode: Literal["default", "reduce-overhead", "max-autotune"] = "default"
    num_threads: int = 0
    progress: bool = True
    tensorboard: Literal["auto", "on", "off"] = "auto"

    def __post_init__(self) -> None:
        positive = {
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "val_every": self.val_every,
            "log_every": self.log_every,
            "max_nonfinite": self.max_nonfinite,
        }
        for name, value in positive.items():
            if value < 1:
                raise ValueError(f"training.{name} must be >= 1, got {value}")
        for name in (
            "grad_clip",
            "weight_decay",
            "early_stopping_patience",
            "checkpoint_every",
            "num_threads",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"training.{name} must be >= 0, got {getattr(self, name)}")
        if self.compile_mode != "default" and not self.compile:
            raise ValueError(
                f"training.compile_mode = {self.compile_mode!r} needs training.compile = true"
            )
        if not self.lr > 0:
            raise ValueError(f"training.lr must be > 0, got {self.lr}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for config.json."""
        return asdict(self)
