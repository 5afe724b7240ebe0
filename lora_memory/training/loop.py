"""The training loop both recipes share: schedule, resume, checkpoints, metrics, evaluation.

A recipe supplies its config (a `TrainConfig`), a fresh network, a ``batch_loss(step, net)`` and an
``evaluate(net)``; this module does everything else the same way for Doc-to-LoRA and Text-to-LoRA
(torchtune-style: the recipe is plain functions over a typed config).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from tqdm.auto import tqdm

from lora_memory.backbone import Backbone
from lora_memory.config import RunConfig
from lora_memory.hypernets.base import Hypernetwork
from lora_memory.hypernets.checkpoint import load_checkpoint, save_checkpoint
from lora_memory.training import archive
from lora_memory.training.state import STATE_FILE, load_state, save_state

CHECKPOINT = "hypernet.safetensors"
THREADS = "threads"  # a run reads this file in its run dir before every step: change threads live
BEST = "best.safetensors"
METRICS = "metrics.jsonl"


@dataclass
class TrainConfig(RunConfig):
    """The fields every recipe's config has; each recipe sets its own defaults.

    Attributes:
        run_dir: where checkpoints, trainer state and metrics.jsonl go; rerun to resume.
        steps: optimizer steps in total (a resumed run continues up to this).
        batch_size: documents or examples per step.
        lr: peak AdamW learning rate.
        warmup: linear warm-up steps, then cosine decay to 10%.
        eval_every: steps between held-out evaluations (0 = never).
        save_every: steps between checkpoints.
        resume_from: a run packed into one file (`training.archive`), unpacked into ``run_dir``
            when that holds no run yet: how a long run continues in another session.
    """

    run_dir: str = "runs/train"
    steps: int = 100
    batch_size: int = 8
    lr: float = 1e-3
    warmup: int = 10
    eval_every: int = 50
    save_every: int = 25
    resume_from: str | None = None


def lr_at(step: int, config: TrainConfig) -> float:
    """Linear warm-up, then cosine decay to 10% of the peak at the last step."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def accelerator_for(config: TrainConfig) -> Accelerator:
    return Accelerator(cpu=config.device == "cpu")


def run(
    config: TrainConfig,
    backbone: Backbone,
    kind: str,
    make_net: Callable[[], Hypernetwork],
    batch_loss: Callable[[int, torch.nn.Module], tuple[torch.Tensor, dict[str, float]]],
    evaluate: Callable[[Hypernetwork], dict[str, float]] | None,
    accelerator: Accelerator,
    score_key: str,
) -> Path:
    """Train (or resume) to ``config.steps``; keeps ``hypernet`` (latest) and ``best`` checkpoints.

    ``batch_loss(step, net)`` must draw its batch from ``step`` alone, and torch's generator is
    seeded from the step, so a resumed run replays exactly the batches (and dropout masks) an
    uninterrupted one would have seen.
    """
    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    archived = config.resume_from
    if archived and not (run_dir / STATE_FILE).exists():
        archive.unpack(archived, run_dir)
    resuming = (run_dir / STATE_FILE).is_file() and (run_dir / CHECKPOINT).is_file()
    net = load_checkpoint(run_dir / CHECKPOINT, backbone, kind=kind) if resuming else make_net()
    net.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(net.parameters(), lr=config.lr, weight_decay=0.0)
    step, extra = load_state(run_dir, optimizer) if resuming else (0, {"best": -1.0, "seconds": 0.0})
    if resuming:
        _forget_metrics_after(run_dir / METRICS, step)
    model, optimizer = accelerator.prepare(net, optimizer)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    bar = tqdm(total=config.steps, initial=step, desc=f"train {kind}", unit="step", disable=not accelerator.is_main_process)
    while step < config.steps:
        _follow_threads(run_dir / THREADS)
        torch.manual_seed(config.seed * 1_000_003 + step)  # dropout's draws, so a resumed run replays them too
        start = time.perf_counter()
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        loss, stats = batch_loss(step, model)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        extra["seconds"] += time.perf_counter() - start
        record = {"step": step, **stats, "lr": lr_at(step - 1, config), "s_per_step": time.perf_counter() - start}
        unwrapped = accelerator.unwrap_model(model)
        if evaluate is not None and config.eval_every and (step % config.eval_every == 0 or step == config.steps):
            unwrapped.eval()
            with torch.no_grad():
                record.update(evaluate(unwrapped))
            unwrapped.train()
            if record[score_key] > extra["best"]:
                extra["best"] = record[score_key]
                save_checkpoint(run_dir / BEST, unwrapped, card=card(config, kind, step, extra, record))
        if accelerator.is_main_process:
            with open(run_dir / METRICS, "a") as f:
                f.write(json.dumps(record) + "\n")
            if step % config.save_every == 0 or step == config.steps:
                save_checkpoint(run_dir / CHECKPOINT, unwrapped, card=card(config, kind, step, extra, record))
                save_state(run_dir, optimizer, step, extra)
        shown = {"loss": f"{stats['loss']:.3f}"} | ({"score": f"{record[score_key]:.2f}"} if score_key in record else {})
        bar.set_postfix(**shown)
        bar.update(1)
    bar.close()
    return run_dir


def _forget_metrics_after(path: Path, step: int) -> None:
    """Drop the records of steps after ``step`` (logged after the last save, before a stop): the
    resumed run redoes those steps, and each step should be logged once."""
    if not path.is_file():
        return
    lines = path.read_text().splitlines(keepends=True)
    kept = [line for line in lines if line.strip() and json.loads(line).get("step", 0) <= step]
    if len(kept) != len(lines):
        path.write_text("".join(kept))


def _follow_threads(path: Path) -> None:
    """Set torch's CPU threads from ``path`` when it holds a positive integer: a long run shares
    the machine with other work and can be given one core or two without a restart."""
    try:
        threads = int(path.read_text().strip())
    except (OSError, ValueError):
        return
    if threads > 0 and threads != torch.get_num_threads():
        torch.set_num_threads(threads)


def card(config: TrainConfig, kind: str, step: int, extra: dict, record: dict) -> dict:
    """What a checkpoint says about how it was made (it travels inside the safetensors header)."""
    on_gpu = torch.cuda.is_available() and config.device != "cpu"
    return {"recipe": kind, "config": config.to_dict(), "step": step, "train_seconds": round(extra["seconds"], 1),
            "device": torch.cuda.get_device_name() if on_gpu else f"cpu ({torch.get_num_threads()} threads)",
            "last_metrics": record}
