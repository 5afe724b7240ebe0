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
prints a markdown table and plots the held-out answer NLL and exact match per question kind
against seconds.

    python -m experiments.d2l_capacity runs/cap/base runs/cap/mixer1 runs/cap/groups3 --out docs/figures/d2l-capacity.png
"""

from __future__ import annotations

import argparse
import json
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
            ax.set_xlabel("training seconds")
            if col == 0:
                ax.set_ylabel(label)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run directories, one per design (named by folder)")
    parser.add_argument("--out", type=Path, default=Path("runs/d2l-capacity.png"))
    args = parser.parse_args(argv)
    runs = {run_dir.name: evaluations(run_dir) for run_dir in args.runs}  # each started at step 0 (--init-from)
    print(table(runs))
    print(f"figure: {plot(runs, args.out)}")


if __name__ == "__main__":
    main()
