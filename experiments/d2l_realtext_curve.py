"""Learning curves of a real-text Doc-to-LoRA run, per question kind, against in-context.

Accuracy and the gold answer's NLL (teacher-forced, nats per token): a continuous figure to read
between exact-match steps.

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
    """Held-out accuracy and answer NLL per kind for in-context, no-context and the shipped network."""
    cached = run_dir / "reference.json"
    if cached.is_file():
        return json.loads(cached.read_text())
    from lora_memory.backbone import Backbone
    from lora_memory.evaluation.qa import answer_samples, fit_in_window, likelihood_samples, summarize
    from lora_memory.hypernets.checkpoint import load_default
    from lora_memory.training.doc2lora import Doc2LoRATrainConfig, cached_heldout

    config = Doc2LoRATrainConfig.from_dict(json.loads((run_dir / "config.json").read_text()) | {"run_dir": str(run_dir)})
    backbone = Backbone.load(config.model, device=device)
    samples = cached_heldout(backbone, config)
    fitted = [fit_in_window(backbone, s) for s in samples]
    shipped = load_default("doc2lora", backbone)
    out = {}
    for name, these, net in (("in_context", fitted, None), ("no_context", samples, None),
                             ("shipped", samples, shipped)):
        method = "doc2lora" if net is not None else name
        out[name] = (summarize(answer_samples(backbone, these, method, net))
                     | summarize(likelihood_samples(backbone, these, method, net)))
    out["questions"] = {s.kind: sum(len(t.qas) for t in samples if t.kind == s.kind) for s in samples}
    cached.write_text(json.dumps(out, indent=2))
    return out


def plot(run_dir: Path, ref: dict[str, dict[str, float]], out: Path, since: int = 0) -> Path:
    """The run's evaluations after step ``since`` (those on the held-out set the references score)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()]
    evals = [r for r in rows if "all_exact" in r and r["step"] > since]
    kinds = sorted(k[: -len("_exact")] for k in ref["in_context"] if k.endswith("_exact"))
    metrics = [m for m in ("exact", "nll") if f"all_{m}" in ref["in_context"]]
    fig, axes = plt.subplots(len(metrics), len(kinds), figsize=(3.2 * len(kinds), 3.0 * len(metrics)),
                             sharey="row", squeeze=False)
    for row, metric in zip(axes, metrics):
        for ax, kind in zip(row, kinds, strict=True):
            key = f"{kind}_{metric}"
            points = [(r["step"], r[key]) for r in evals if key in r]
            ax.plot([p[0] for p in points], [p[1] for p in points], "o-", label="D2L (this run)")
            control = [(r["step"], r[f"{key}_other"]) for r in evals if f"{key}_other" in r]
            if control:  # the same questions with another document's adapter: the content gap
                ax.plot([p[0] for p in control], [p[1] for p in control], "x--", label="D2L, another document")
            for name, style in (("in_context", "--"), ("shipped", ":"), ("no_context", "-.")):
                ax.axhline(ref[name][key], linestyle=style, color="grey", label=name)
            counts = ref.get("questions", {})
            count = sum(counts.values()) if kind == "all" else counts.get(kind, "?")
            ax.set_title(f"{kind} ({count} q)" if metric == "exact" else kind)
            ax.set_xlabel("step")
            if metric == "exact":
                ax.set_ylim(0, 1)
        row[0].set_ylabel("held-out exact (answer contained)" if metric == "exact" else "held-out answer NLL (nats/token)")
    axes[0][-1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    return out


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--out", type=Path, default=None, help="PNG path (default: RUN_DIR/curve.png)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--since", type=int, default=0,
                        help="plot only evaluations after this step: where a resumed run drew a new held-out set")
    args = parser.parse_args(argv)
    ref = reference(args.run_dir, args.device)
    print(json.dumps(ref, indent=1))
    print(plot(args.run_dir, ref, args.out or args.run_dir / "curve.png", args.since))


if __name__ == "__main__":
    main()
