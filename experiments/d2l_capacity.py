"""Doc-to-LoRA designs with more capacity, compared at equal CPU time on the real-text objective.

Issue 20, section 3. Each design is a training run started from the same weights with the same
seed (the same batches) and the same held-out set (the main run's ``heldout.json`` copied into
each run directory), differing only in its network flags, for example::

    lora-memory train doc2lora --run-dir runs/cap/base    --init-from <hypernet.safetensors> --seed 5 ... (the run's flags)
    lora-memory train doc2lora --run-dir runs/cap/mixer1  --init-from <hypernet.safetensors> --seed 5 ... --mixer-layers 1
    lora-memory train doc2lora --run-dir runs/cap/groups3 --init-from <hypernet.safetensors> --seed 5 ... --query-groups 3

``--mixer-layers`` and ``--query-groups`` warm-start exactly (identity mixer, copied query sets),
so every design begins at the same held-out figures and only its learning differs. This script
reads the runs' ``metrics.jsonl``, puts each evaluation at the training seconds spent to reach it,
prints a markdown table, how far each design's final weights are from the first's, and plots the
held-out answer NLL and exact match per question kind against seconds. On a shared machine those seconds follow the load, so ``--time`` also times
one training step (loss and backward, batch of 8 held-out documents) of every design in turn,
round after round in one process: the designs' relative cost under the same conditions.

    python -m experiments.d2l_capacity runs/cap/base runs/cap/mixer1 runs/cap/groups3 --out docs/figures/d2l-capacity.png --time 3
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

SECTIONS = ("Real-text Doc-to-LoRA",)  # the BENCHMARKS.md sections this reproduces


def evaluations(run_dir: Path) -> list[dict]:
    """The run's held-out evaluations, each with ``seconds``: training time summed up to its step."""
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    seconds, out = 0.0, []
    for row in sorted(rows, key=lambda r: r["step"]):
        seconds += row["s_per_step"]
        if "all_exact" in row:
            out.append(row | {"seconds": seconds})
    return out


def kinds_of(rows: Sequence[dict]) -> list[str]:
    return sorted({k[: -len("_nll")] for r in rows for k in r if k.endswith("_nll") and k != "all_nll"})


def table(runs: dict[str, list[dict]]) -> str:
    """One markdown row per design and evaluation: step, seconds, s/step, exact and NLL per kind."""
    kinds = kinds_of([r for rows in runs.values() for r in rows])
    head = ["design", "step", "train s", "s/step"] + [f"{k} exact" for k in kinds] + [f"{k} NLL" for k in kinds]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, rows in runs.items():
        for r in rows:
            cells = [name, str(r["step"]), f"{r['seconds']:.0f}", f"{r['seconds'] / r['step']:.1f}"]
            cells += [f"{100 * r.get(f'{k}_exact', float('nan')):.1f}%" for k in kinds]
            cells += [f"{r.get(f'{k}_nll', float('nan')):.2f}" for k in kinds]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(runs: dict[str, list[dict]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = kinds_of([r for rows in runs.values() for r in rows])
    fig, axes = plt.subplots(2, len(kinds), figsize=(3.2 * len(kinds), 6.0), squeeze=False)
    for col, kind in enumerate(kinds):
        for row, (metric, label) in enumerate((("nll", "answer NLL (nats/token)"), ("exact", "exact match"))):
            ax = axes[row][col]
            for name, rows in runs.items():
                ax.plot([r["seconds"] for r in rows], [r.get(f"{kind}_{metric}") for r in rows], marker="o", label=name)
            ax.set_title(kind if row == 0 else "")
            if metric == "exact":
                ax.set_ylim(0, 1)
            ax.set_xlabel("training seconds")
            if col == 0:
                ax.set_ylabel(label)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


def drift(run_dirs: Sequence[Path]) -> dict[str, float]:
    """Largest absolute difference of any entry between each design's final weights and the first
    design's, over the tensors both have: how far the designs' learning has taken them apart."""
    from safetensors.torch import load_file

    first = load_file(str(run_dirs[0] / "hypernet.safetensors"))
    out = {}
    for d in run_dirs[1:]:
        other = load_file(str(d / "hypernet.safetensors"))
        shared = [k for k in first if k in other and first[k].shape == other[k].shape]
        out[d.name] = max(float((first[k] - other[k]).abs().max()) for k in shared)
    return out


def step_seconds(run_dirs: Sequence[Path], rounds: int) -> dict[str, float]:
    """Median seconds of one training step (loss + backward) per design, the designs taking turns."""
    from lora_memory.backbone import Backbone
    from lora_memory.data.synthetic import samples_from_json
    from lora_memory.hypernets.checkpoint import fresh
    from lora_memory.training.doc2lora import Doc2LoRATrainConfig, doc2lora_loss

    configs = {d.name: Doc2LoRATrainConfig.from_dict(json.loads((d / "config.json").read_text())) for d in run_dirs}
    first = next(iter(configs.values()))
    backbone = Backbone.load(first.model, device="cpu")
    docs = random.Random(0).sample(samples_from_json((run_dirs[0] / "heldout.json").read_text()), first.batch_size)
    nets = {name: fresh("doc2lora", backbone, arch=c.arch, **c.network().to_dict()).train().requires_grad_(True)
            for name, c in configs.items()}
    seconds: dict[str, list[float]] = {name: [] for name in nets}
    for r in range(rounds):
        for name, net in nets.items():
            start = time.perf_counter()
            loss, _ = doc2lora_loss(backbone, net, docs, random.Random(r), configs[name])
            loss.backward()
            seconds[name].append(time.perf_counter() - start)
            net.zero_grad(set_to_none=True)
    return {name: statistics.median(s) for name, s in seconds.items()}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories, one per design (named by folder)")
    parser.add_argument("--out", type=Path, default=Path("runs/d2l-capacity.png"))
    parser.add_argument("--time", type=int, default=0, metavar="ROUNDS",
                        help="also time ROUNDS training steps of each design in turn (0 = don't)")
    args = parser.parse_args(argv)
    runs = {run_dir.name: evaluations(run_dir) for run_dir in args.runs}  # each started at step 0 (--init-from)
    print(table(runs))
    print(f"figure: {plot(runs, args.out)}")
    for name, largest in drift(args.runs).items():
        print(f"{name}: final weights at most {largest:.1e} from {args.runs[0].name}'s (shared tensors)")
    if args.time:
        for name, median in step_seconds(args.runs, args.time).items():
            print(f"{name}: {median:.2f} s per training step (median of {args.time}, designs in turn)")


if __name__ == "__main__":
    main()
