"""Learning curves of a real-text Doc-to-LoRA run, per question kind, against in-context.

Reproduces BENCHMARKS.md, "Real-text Doc-to-LoRA". Reads the run's
``metrics.jsonl`` (held-out accuracy logged every ``eval_every`` steps by the recipe) and, once per
run, scores the same held-out samples with the document in the prompt, with no context and with
the shipped network (cached in ``reference.json`` in the run directory), then plots them.

    OMP_NUM_THREADS=2 python -m experiments.d2l_realtext_curve runs/d2l-real --out runs/d2l-real/curve.png
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

SECTIONS = ("Real-text Doc-to-LoRA",)  # the BENCHMARKS.md sections this reproduces


def reference(run_dir: Path, device: str) -> dict[str, dict[str, float]]:
    """Held-out accuracy per kind for in-context, no-context and the shipped network."""
    cached = run_dir / "reference.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    from lora_memory.backbone import Backbone
    from lora_memory.evaluation.qa import answer_samples, fit_in_window, summarize
    from lora_memory.hypernets.checkpoint import load_default
    from lora_memory.training.doc2lora import Doc2LoRATrainConfig, heldout_samples

    config = Doc2LoRATrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()))
    backbone = Backbone.load(config.model, device=device)
    samples = heldout_samples(backbone, config)
    shipped = load_default("doc2lora", backbone)
    out = {
        "in_context": summarize(answer_samples(backbone, [fit_in_window(backbone, s) for s in samples], "in_context")),
        "no_context": summarize(answer_samples(backbone, samples, "no_context")),
        "shipped": summarize(answer_samples(backbone, samples, "doc2lora", shipped)),
    }
    cached.write_text(json.dumps(out, indent=2))
    return out


def plot(run_dir: Path, ref: dict[str, dict[str, float]], out: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [r for r in rows if "all_exact" in r]
    kinds = sorted(k[: -len("_exact")] for k in ref["in_context"] if k.endswith("_exact"))
    fig, axes = plt.subplots(1, len(kinds), figsize=(3.2 * len(kinds), 3.2), sharey=True)
    for ax, kind in zip(axes, kinds, strict=True):
        key = f"{kind}_exact"
        ax.plot([r["step"] for r in evals], [r.get(key, float("nan")) for r in evals], "o-", label="D2L (this run)")
        for name, style in (("in_context", "--"), ("shipped", ":"), ("no_context", "-.")):
            ax.axhline(ref[name][key], linestyle=style, color="grey", label=name)
        ax.set_title(kind)
        ax.set_xlabel("step")
        ax.set_ylim(0, 1)
    axes[0].set_ylabel("held-out exact (answer contained)")
    axes[-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="PNG path (default: RUN_DIR/curve.png)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    ref = reference(args.run_dir, args.device)
    print(json.dumps(ref, indent=1))
    print(plot(args.run_dir, ref, args.out or args.run_dir / "curve.png"))


if __name__ == "__main__":
    main()
