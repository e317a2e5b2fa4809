"""One small trainer: a visible loop with clipping, NaN guard, early stopping and exact resume."""

from __future__ import annotations

import logging
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import torch
from torch import Tensor, nn

from plausible.data.batching import TensorBatcher
from plausible.distributions.checks import unchecked_distributions
from plausible.objectives.output import ObjectiveOutput
from plausible.training.callbacks import Callback, GracefulStop
from plausible.training.checkpointing import (
    capture_rng,
    find_checkpoint,
    read_checkpoint,
    restore_rng,
    write_checkpoint,
)
from plausible.training.config import TrainerConfig
from plausible.training.device import (
    autocast,
    choose_threads,
    cpu_has_native_bf16,
    place_training,
    resolve_device,
)
from plausible.training.distributed import average_gradients, broadcast_module, shutdown_distributed
from plausible.training.errors import NonFiniteLossError, TrainingInterrupted
from plausible.training.metrics_log import MetricsLog, RowWindow, load_metrics
from plausible.training.nan_guard import NanGuard
from plausible.training.optim import build_optimizer, build_scheduler
from plausible.training.progress import ProgressBar, log_scalars, open_tensorboard
from plausible.training.validation import validation_means

# The other names kept their old address here when they moved to modules of their own.
__all__ = [
    "NonFiniteLossError",
    "Trainer",
    "TrainingInterrupted",
    "cpu_has_native_bf16",
    "load_metrics",
    "resolve_device",
]

log = logging.getLogger(__name__)
Objective = Callable[[nn.Module, dict[str, Tensor], int | None], ObjectiveOutput]


class Trainer:
    """Fit a model to a task's tensors with a registered objective.

    Lightning's method order (``configure_optimizers``, ``training_step``, ``validation_step``,
    ``fit``) on a plain loop. The run folder, when given, receives ``metrics.jsonl``, checkpoints
    (every epoch and every ``checkpoint_every`` steps) and TensorBoard logs.

    Args:
        model: The model; it is moved to the configured device.
        objective: ``(model, batch, step) -> ObjectiveOutput``; ``step=None`` in validation.
        config: Trainer settings.
        run_dir: Folder for metrics and checkpoints; ``None`` keeps everything in memory.
        callbacks: Hooks called after each step and epoch.
    """

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        config: TrainerConfig,
        *,
        run_dir: str | Path | None = None,
        callbacks: Sequence[Callback] = (),
    ) -> None:
        self.config = config
        self.device, self.dist = place_training(config)
        self.threads = choose_threads(config, model, self.device)
        self.model = model.to(self.device)
        broadcast_module(self.model, self.dist)
        self.step_model: nn.Module = self.model
        if config.compile:
            # torch.compile returns the module wrapped; typed as a callable, used as the module.
            self.step_model = cast(
                nn.Module, torch.compile(self.step_model, mode=config.compile_mode)
            )
        # These modes replay CUDA graphs, whose outputs the next replay overwrites: each step
        # must be marked so that torch knows the previous step's outputs are no longer needed.
        self._marks_graph_steps = (
            config.compile
            and config.compile_mode in ("reduce-overhead", "max-autotune")
            and self.device.type == "cuda"
        )
        self.objective = objective
        self.run_dir = Path(run_dir) if run_dir is not None else None
        if self.run_dir is not None:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.callbacks = list(callbacks)
        self.optimizer, self.scheduler = self.configure_optimizers()
        # Fused Adam can skip a bad batch's update on the device (its found_inf input), so the
        # host need not read the NaN guard's verdict before stepping.
        self._skip_on_device = bool(self.optimizer.defaults.get("fused"))
        self.step = 0
        self.epoch = 0
        self.batch_in_epoch = 0
        self.best_val = math.inf
        self.best_epoch = -1
        self.best_state: dict[str, Tensor] | None = None
        self.bad_epochs = 0
        self.guard = NanGuard(config.max_nonfinite)
        self.epoch_times: list[float] = []
        # Wall time of fit() in earlier processes (a resumed run counts all of them).
        self.earlier_wall_time = 0.0
        self._fit_start = time.perf_counter()
        self.should_stop = False
        self._window = RowWindow()  # sums behind the next training row
        # Only rank 0 writes files; the other ranks keep their rows in memory.
        self.is_main = self.dist.is_main
        self.log = MetricsLog(
            self.run_dir / "metrics.jsonl" if self.run_dir and self.is_main else None
        )

    # -- Lightning-style hooks -------------------------------------------------------------
    def configure_optimizers(self) -> tuple[torch.optim.Optimizer, Any]:
        """Adam/AdamW and the configured learning-rate schedule."""
        optimizer = build_optimizer(self.model, self.config)
        # cosine needs the number of steps, so it is built in fit().
        return optimizer, build_scheduler(optimizer, self.config)

    def training_step(self, batch: dict[str, Tensor]) -> ObjectiveOutput:
        """Objective on one training batch at the current step's schedule values."""
        if self._marks_graph_steps:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(self.config.precision, self.device), unchecked_distributions():
            return self.objective(self.step_model, batch, self.step)

    @torch.no_grad()
    def validation_step(self, batch: dict[str, Tensor]) -> ObjectiveOutput:
        """Objective on one validation batch with every schedule at its final value."""
        if self._marks_graph_steps:
            torch.compiler.cudagraph_mark_step_begin()
        with autocast(self.config.precision, self.device), unchecked_distributions():
            return self.objective(self.step_model, batch, None)

    # -- the loop ------------------------------------------------------------------------------
    def fit(
        self,
        train: dict[str, Tensor],
        val: dict[str, Tensor] | None = None,
        *,
        transform: Callable[[dict[str, Tensor], torch.Generator], dict[str, Tensor]] | None = None,
        resume: bool = False,
    ) -> dict[str, Any]:
        """Train for ``config.epochs`` epochs (or until early stopping).

        Args:
            train: Training tensors, e.g. ``{"x": (N, ...)}``.
            val: Validation tensors for early stopping; ``None`` disables it.
            transform: Per-batch transform (e.g. dynamic binarisation), seeded per batch.
            resume: Continue from the run folder's checkpoint exactly where it stopped.

        Returns:
            Summary: epochs and steps run (a step is a batch, skipped or not), batches the NaN
            guard skipped, best validation loss and epoch, throughput, wall time.

        Raises:
            TrainingInterrupted: On Ctrl-C, after saving a checkpoint.
            NonFiniteLossError: After ``max_nonfinite`` consecutive bad batches. The guard's
                verdicts are read with each training row (every ``log_every`` steps) and at
                checkpoints, so the error may come up to ``log_every`` steps after the batch
                that tripped it; the skipped batches never touched the weights.
        """
        cfg = self.config
        batcher = TensorBatcher(
            train,
            cfg.batch_size,
            shuffle=True,
            seed=cfg.seed,
            device=self.device,
            transform=transform,
            rank=self.dist.rank,
            world_size=self.dist.world_size,
        )
        val_batcher = (
            TensorBatcher(val, max(cfg.batch_size, 1024), shuffle=False, device=self.device)
            if val is not None
            else None
        )
        total_steps = cfg.epochs * len(batcher)
        if cfg.lr_schedule == "cosine":
            self.scheduler = build_scheduler(self.optimizer, cfg, total_steps=total_steps)
        if resume:
            self._resume()
        else:
            # Each rank draws its own sampling noise; the batch order is shared through the batcher.
            torch.manual_seed(cfg.seed + self.dist.rank)
        tb = open_tensorboard(self.run_dir if self.is_main else None, cfg.tensorboard)
        show = cfg.progress and sys.stderr.isatty() and self.is_main
        progress = ProgressBar(enabled=show, total=total_steps, completed=self.step)
        self._fit_start = time.perf_counter()
        # Ctrl-C / SIGTERM stop at the next step boundary, so the checkpoint below is consistent.
        graceful = GracefulStop()
        self.callbacks.append(graceful)
        try:
            with progress, graceful:
                while self.epoch < cfg.epochs and not self.should_stop:
                    self._train_epoch(batcher, progress, tb)
                    if val_batcher is not None and self.epoch % cfg.val_every == 0:
                        self._validate(val_batcher, tb)
                    self._save()
        except KeyboardInterrupt:
            self._save()
            raise TrainingInterrupted(
                f"training stopped at step {self.step} (epoch {self.epoch}); a checkpoint was "
                "saved and --resume continues from it"
            ) from None
        finally:
            self.callbacks.remove(graceful)
            # The skip flag of the last step must not follow the optimiser out of fit().
            self.optimizer.__dict__.pop("found_inf", None)
            if tb is not None:
                tb.close()
        if cfg.restore_best and self.best_state is not None:
            self.model.load_state_dict(self.best_state)
        # Leave the process group while all ranks are in step; waiting for interpreter exit
        # made gloo abort now and then as ranks tore down at different moments.
        shutdown_distributed(self.dist)
        return self.summary(self.wall_time, batch_size=cfg.batch_size)

    def _train_epoch(self, batcher: TensorBatcher, progress: ProgressBar, tb: Any) -> None:
        cfg = self.config
        self.model.train()
        tic = time.perf_counter()
        for batch in batcher.epoch_batches(self.epoch, start=self.batch_in_epoch):
            out = self.training_step(batch)
            loss = out.loss.mean()
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            average_gradients(self.model, self.dist)
            grads = [p.grad for p in self.model.parameters() if p.grad is not None]
            # Only the norm is needed to spot a non-finite gradient; scaling by it is skipped
            # unless clipping is on (it is a full extra pass over the gradients).
            grad_norm = torch.nn.utils.get_total_norm(grads)
            # The NaN guard's verdict stays on the device: a bad batch's update is skipped there,
            # and the host reads the verdicts with the next training row or checkpoint.
            finite, good = self.guard.judge(loss, grad_norm, self.dist)
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grads_with_norm_(grads, cfg.grad_clip, grad_norm)
            self._optimizer_step(good)
            if cfg.lr_schedule == "cosine":
                self.scheduler.step()
            examples = out.loss.shape[0]
            terms = {k: v.detach() for k, v in out.terms.items()}
            self.guard.record(
                finite,
                terms,
                examples=examples,
                step=self.step,
                epoch=self.epoch,
                batch=self.batch_in_epoch,
            )
            self._window.add({"loss": out.loss.detach(), **terms}, good, examples)
            self.step += 1
            self.batch_in_epoch += 1
            if self.step % cfg.log_every == 0:
                self._log_train(tb, progress)
            progress.advance(self.epoch)
            for callback in self.callbacks:
                callback.on_step_end(self, out)
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self._save()
        self._log_train(tb, progress)
        self.epoch_times.append(time.perf_counter() - tic)
        self.epoch += 1
        self.batch_in_epoch = 0
        for callback in self.callbacks:
            callback.on_epoch_end(self)

    def _optimizer_step(self, good: Tensor) -> None:
        """Update the weights unless ``good`` (a 0-d bool tensor on the device) is false."""
        if self._skip_on_device:
            self.optimizer.found_inf = (~good).float()  # type: ignore[attr-defined]
            self.optimizer.step()
        elif bool(good):  # other optimisers cannot skip on the device, so the host reads it now
            self.optimizer.step()

    def _settle_guard(self) -> None:
        """Read the NaN guard's pending verdicts and report each skipped batch: a ``nonfinite``
        row and a warning naming the term, step and batch. Its examples leave the training row's
        count (its sums were never added).

        Raises:
            NonFiniteLossError: ``max_nonfinite`` bad batches in a row; a checkpoint of the
                current weights, which no bad batch touched, is written first.
        """
        skipped, too_many = self.guard.settle()
        for i, batch in enumerate(skipped):
            self._window.drop(batch.examples)
            self.log.write(batch.row())
            if too_many and i == len(skipped) - 1:
                self._write_checkpoint()
                raise NonFiniteLossError(
                    f"{batch.message()}. {self.guard.streak} batches in a row were non-finite, so "
                    "training stopped. Lower training.lr, set training.grad_clip (e.g. 5.0), or "
                    "check the data for NaN/inf values; the last good weights were checkpointed."
                )
            log.warning("%s; batch skipped", batch.message())

    @property
    def skipped_batches(self) -> int:
        """Batches the NaN guard kept from the weights, as of its last read."""
        return self.guard.skipped

    def _log_train(self, tb: Any, progress: ProgressBar) -> None:
        """Write the training row of the steps since the last one (none if all were skipped)."""
        self._settle_guard()
        means = self._window.pop_means(self.dist)
        if means is None:
            return
        row: dict[str, Any] = {"step": self.step, "epoch": self.epoch, "split": "train", **means}
        row["lr"] = self.optimizer.param_groups[0]["lr"]
        self.log.write(row)
        progress.show_loss(row["loss"])
        log_scalars(tb, "train", row, self.step)

    def _validate(self, batcher: TensorBatcher, tb: Any) -> None:
        self.model.eval()
        seed = self.config.seed + 7919 * self.epoch
        means = validation_means(self.validation_step, batcher, seed=seed, device=self.device)
        row: dict[str, Any] = {"step": self.step, "epoch": self.epoch, "split": "val", **means}
        self.log.write(row)
        log_scalars(tb, "val", row, self.step)
        val_loss = row["loss"]
        if self.config.lr_schedule == "plateau":
            self.scheduler.step(val_loss)
        if val_loss < self.best_val:
            self.best_val, self.best_epoch, self.bad_epochs = val_loss, self.epoch, 0
            self.best_state = {
                k: v.detach().to("cpu", copy=True) for k, v in self.model.state_dict().items()
            }
        else:
            self.bad_epochs += 1
            patience = self.config.early_stopping_patience
            if patience and self.bad_epochs >= patience:
                log.info("early stopping at epoch %d (best epoch %d)", self.epoch, self.best_epoch)
                self.should_stop = True
        self.model.train()

    @property
    def wall_time(self) -> float:
        """Seconds spent in ``fit`` so far, over every process that trained this run."""
        return self.earlier_wall_time + time.perf_counter() - self._fit_start

    # -- checkpoints ---------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything but the weights needed to continue exactly."""
        return {
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "rng": capture_rng(),
            "step": self.step,
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best_val": self.best_val,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "should_stop": self.should_stop,
            "nonfinite_streak": self.guard.streak,
            "skipped_batches": self.guard.skipped,
            "epoch_times": list(self.epoch_times),
            "wall_time_s": self.wall_time,
            "metrics_rows": self.log.rows,
            "log_window": self._window.state_dict(),
        }

    def _save(self) -> None:
        """Checkpoint, after reading the pending NaN-guard verdicts (on every process)."""
        self._settle_guard()
        self._write_checkpoint()

    def _write_checkpoint(self) -> None:
        if self.run_dir is None or not self.is_main:
            return
        write_checkpoint(
            self.run_dir,
            model_state=self.model.state_dict(),
            trainer_state=self.state_dict(),
            best_state=self.best_state,
        )

    def _resume(self) -> None:
        path = find_checkpoint(self.run_dir) if self.run_dir is not None else None
        if path is None:
            raise FileNotFoundError(
                f"--resume was given but {self.run_dir} holds no checkpoint; start without --resume"
            )
        model_state, state, best_state = read_checkpoint(path)
        self.model.load_state_dict(model_state)
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state["scheduler"] is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        for key in (
            "step",
            "epoch",
            "batch_in_epoch",
            "best_val",
            "best_epoch",
            "bad_epochs",
            "should_stop",
        ):
            setattr(self, key, state[key])
        self.guard.streak = state["nonfinite_streak"]
        self.guard.skipped = state["skipped_batches"]
        self.epoch_times = list(state["epoch_times"])
        # Checkpoints written before the wall time was kept: their epochs' times are the best
        # account left of the earlier sessions.
        self.earlier_wall_time = float(state.get("wall_time_s", sum(self.epoch_times)))
        self.best_state = best_state
        self.log.truncate(state["metrics_rows"])
        window = state.get("log_window")
        if window is not None and not self.dist.enabled:  # per-rank sums are not checkpointed
            self._window.load_state_dict(window, self.device)
        restore_rng(state["rng"])
        log.info("resumed from %s at step %d (epoch %d)", path, self.step, self.epoch)

    def summary(self, wall_time: float, *, batch_size: int) -> dict[str, Any]:
        """What ``fit`` returns and the run's summary records."""
        steady = self.epoch_times[1:] or self.epoch_times
        return {
            "epochs": self.epoch,
            "steps": self.step,
            "skipped_batches": self.skipped_batches,
            "best_epoch": self.best_epoch,
            "best_val_loss": self.best_val if math.isfinite(self.best_val) else None,
            "stopped_early": self.should_stop,
            "wall_time_s": wall_time,  # over every session of a resumed run
            "median_epoch_time_s": statistics.median(steady) if steady else None,
        }
