"""Two gloo processes under torchrun reach the weights of one process with the same global batch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

WORKER = textwrap.dedent("""
    import json, os, sys
    import torch
    from plausible.checkpoint import save_weights
    from plausible.models import VAE
    from plausible.objectives import elbo
    from plausible.training import Trainer, TrainerConfig

    def mean_code_elbo(model, batch, step):
        # z = E[z|x]: no sampling noise, so one process and two processes see the same numbers.
        x = batch["x"]
        out = model(x)
        out.z = out.q_z.mean
        out.p_x = model.decode(out.z)
        return elbo(out, x)

    batch_size, out = int(sys.argv[1]), sys.argv[2]
    torch.manual_seed(0)
    x = (torch.rand(64, 12) > 0.5).float()
    model = VAE((12,), latent_dim=2, hidden_dims=(16,))
    cfg = TrainerConfig(epochs=3, batch_size=batch_size, lr=1e-2, progress=False,
                        tensorboard="off", log_every=2, num_threads=1)
    trainer = Trainer(model, mean_code_elbo, cfg, run_dir=out)
    trainer.fit({"x": x})
    if trainer.is_main:
        save_weights(os.path.join(out, "final.safetensors"), model)
        json.dump(trainer.log.records, open(os.path.join(out, "rows.json"), "w"))
    print("rank", os.environ.get("RANK", "0"), "finished", flush=True)
""")


def _run(args: list[str], tmp_path: Path) -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    result = subprocess.run(
        args,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        stdin=subprocess.DEVNULL,
    )
    output = result.stdout + result.stderr
    # Known: now and then a gloo rank aborts (SIGABRT, "terminate called without an active
    # exception") during interpreter teardown, after its work is done and its files are written.
    # That is tolerated here only when every rank reported finishing; anything else fails.
    finished = output.count(" finished")
    world = 2 if "nproc_per_node=2" in " ".join(args) else 1
    teardown_abort = "exitcode  : -6" in output and finished == world
    assert result.returncode == 0 or teardown_abort, output[-3000:]


def test_two_process_gloo_matches_single_process(tmp_path: Path) -> None:
    pytest.importorskip("torch.distributed")
    if not torch.distributed.is_gloo_available():
        pytest.skip("this PyTorch build has no gloo backend")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    _run([sys.executable, str(script), "16", str(tmp_path / "single")], tmp_path)
    _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            "8",
            str(tmp_path / "ddp"),
        ],
        tmp_path,
    )
    from safetensors.torch import load_file

    single = load_file(tmp_path / "single" / "final.safetensors")
    ddp = load_file(tmp_path / "ddp" / "final.safetensors")
    for name, value in single.items():
        torch.testing.assert_close(ddp[name], value, atol=1e-5, rtol=1e-4, msg=name)
    # Logged losses are reduced across ranks, so they match the single-process log.
    rows_single = json.loads((tmp_path / "single" / "rows.json").read_text())
    rows_ddp = json.loads((tmp_path / "ddp" / "rows.json").read_text())
    assert [r["step"] for r in rows_single] == [r["step"] for r in rows_ddp]
    for a, b in zip(rows_single, rows_ddp, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-3 * abs(a["loss"])
    # Only rank 0 wrote the run folder's checkpoint.
    assert (tmp_path / "ddp" / "checkpoint" / "meta.json").is_file()


@pytest.mark.slow
def test_cli_devices_launches_torchrun(tmp_path: Path) -> None:
    plausible = Path(sys.executable).parent / "plausible"
    _run(
        [
            str(plausible),
            "train",
            "vae-digits",
            "--devices",
            "2",
            "--out",
            str(tmp_path / "run"),
            "--set",
            "training.epochs=2",
            "--set",
            "evaluation.num_samples=4",
        ],
        tmp_path,
    )
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["training"]["epochs"] == 2


INTERRUPTED_WORKER = textwrap.dedent("""
    import os, pathlib, sys, time
    import torch
    from plausible.models import VAE
    from plausible.training import Callback, ConfiguredObjective, Trainer, TrainerConfig
    from plausible.training import TrainingInterrupted

    class Pace(Callback):
        def on_step_end(self, trainer, out):
            time.sleep(0.02)  # slow enough that the signal lands mid-training
            if trainer.step == 5:
                path = pathlib.Path(sys.argv[1], f"started-{os.environ['RANK']}")
                path.with_suffix(".tmp").write_text(str(os.getpid()))
                path.with_suffix(".tmp").rename(path)  # never seen half written

    torch.manual_seed(0)
    x = (torch.rand(64, 12) > 0.5).float()
    model = VAE((12,), latent_dim=2, hidden_dims=(16,))
    cfg = TrainerConfig(epochs=500, batch_size=8, progress=False, tensorboard="off",
                        log_every=1000, num_threads=1)
    trainer = Trainer(model, ConfiguredObjective("elbo"), cfg, run_dir=sys.argv[1],
                      callbacks=[Pace()])
    try:
        trainer.fit({"x": x})
    except TrainingInterrupted:
        print("rank", os.environ["RANK"], "stopped at step", trainer.step, flush=True)
""")


@pytest.mark.parametrize("target", ["torchrun", "rank-1"])
def test_a_stop_request_stops_every_process_at_the_same_step_with_a_checkpoint(
    tmp_path: Path, target: str
) -> None:
    """Ctrl-C to torchrun reaches every worker as one SIGINT (each runs in its own session); a
    signal to a single worker must stop the others too, or they would wait for it forever."""
    if not torch.distributed.is_gloo_available():
        pytest.skip("this PyTorch build has no gloo backend")
    import re
    import signal
    import time

    from plausible.training.checkpointing import find_checkpoint, read_checkpoint

    script = tmp_path / "worker.py"
    script.write_text(INTERRUPTED_WORKER)
    run = tmp_path / "run"
    run.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    env.pop("WORLD_SIZE", None)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    launcher = subprocess.Popen(
        [*command, str(script), str(run)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        stdin=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not all((run / f"started-{rank}").exists() for rank in (0, 1)):
            assert launcher.poll() is None, launcher.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the workers never reached step 5"
            time.sleep(0.05)
        if target == "torchrun":
            launcher.send_signal(signal.SIGINT)
        else:
            os.kill(int((run / "started-1").read_text()), signal.SIGINT)
        output, _ = launcher.communicate(timeout=90)
    finally:
        if launcher.poll() is None:
            launcher.kill()
    stops = {int(r): int(s) for r, s in re.findall(r"rank (\d) stopped at step (\d+)", output)}
    assert sorted(stops) == [0, 1], output[-3000:]
    assert stops[0] == stops[1], stops
    _, state, _ = read_checkpoint(find_checkpoint(run))
    assert state["step"] == stops[0]
