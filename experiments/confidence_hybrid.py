"""Confidence and hybrid answers: does `MemoryAnswer.confidence` separate right from wrong, and
what does ``text_fallback`` buy against parametric-only and RAG answers?

Held-out sets, each question asked of a `ParametricMemory` from the adapters and from the
routed text (`evaluation.confidence_eval`): ``facts-passages`` / ``facts-whole`` (the
evaluation's 24 held-out fact documents, seed 1235 as ``lora-memory eval doc2lora`` draws them:
all in one memory cut into segments of <= 24 tokens, questions routed across all of them, or each
whole in its own memory), ``real-passages`` / ``real-whole`` (the real software documents in one
memory, as <= 128-token segments, the real-document eval's RAG size, or whole). Prints AUC, accuracy above each threshold and the hybrid's accuracy
against mean prompt tokens; ``--figure`` plots the trade-off. BENCHMARKS.md, "Confidence and
hybrid answers":

    OMP_NUM_THREADS=2 python -m experiments.confidence_hybrid --sets facts-passages,real-passages --figure docs/figures/confidence_hybrid.png
    python -m experiments.confidence_hybrid --resummarize --figure docs/figures/confidence_hybrid.png   (the saved records, scored again)
"""

from __future__ import annotations

import argparse
import json
import math
import random
from collections.abc import Sequence
from pathlib import Path

from experiments._network import add_network_arguments, load_network
from lora_memory.backbone import Backbone
from lora_memory.data.real_documents import real_documents
from lora_memory.evaluation import plots
from lora_memory.evaluation.confidence_eval import memory_records, summarize_confidence
from lora_memory.evaluation.doc2lora_eval import fact_documents
from lora_memory.evaluation.real_docs_eval import RAG_PASSAGE_TOKENS
from lora_memory.passages import PASSAGE_TOKENS

SECTIONS = ("Confidence and hybrid answers",)  # the BENCHMARKS.md section this reproduces
SETS = {  # name: (documents, passage tokens or None for whole documents, one memory per document)
    "facts-passages": ("facts", PASSAGE_TOKENS, False),
    "facts-whole": ("facts", None, True),
    "real-passages": ("real", RAG_PASSAGE_TOKENS, False),
    "real-whole": ("real", None, False),
}


def _label(point: dict) -> str:
    """A trade-off point's name on the plot: the two ends, else the share of answers that fell back."""
    t = point["threshold"]
    return "adapters" if t == -math.inf else "RAG" if t == math.inf else f"{point['fallback']:.0%}"


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", default="facts-passages,real-passages", help=f"comma-separated of {sorted(SETS)}")
    parser.add_argument("--facts", type=int, default=24, help="held-out fact documents")
    parser.add_argument("--seed", type=int, default=1235, help="draws the fact documents")
    parser.add_argument("--out", default="runs/confidence-hybrid", help="directory for records.json")
    parser.add_argument("--figure", default="", help="PNG of accuracy against prompt tokens")
    parser.add_argument("--resummarize", action="store_true",
                        help="score the records already in --out again instead of asking anything")
    add_network_arguments(parser)
    args = parser.parse_args(argv)
    out = Path(args.out)
    if args.resummarize:
        saved = json.loads((out / "records.json").read_text())
        _report({name: (summarize_confidence(r["records"]), r["records"]) for name, r in saved.items()}, args.figure)
        return
    backbone = Backbone.load(None)
    net = load_network(args, backbone)
    documents = {"facts": lambda: fact_documents(random.Random(args.seed), args.facts), "real": real_documents}
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name in [s for s in args.sets.split(",") if s]:
        source, passage_tokens, per_document = SETS[name]
        records = memory_records(backbone, net, documents[source](), passage_tokens=passage_tokens,
                                 per_document=per_document)
        results[name] = (summarize_confidence(records), records)
        (out / "records.json").write_text(json.dumps({n: {**s, "records": r} for n, (s, r) in results.items()},
                                                     indent=1))
    _report(results, args.figure)


def _report(results: dict[str, tuple[dict, list[dict]]], figure: str) -> None:
    """Print each set's summary and trade-off points; plot them to ``figure`` when given."""
    curves = {}
    for name, (summary, _) in results.items():
        print(json.dumps({"set": name, **{k: v for k, v in summary.items() if k != "points"}}))
        for p in summary["points"]:
            print(json.dumps({"set": name, **{k: round(v, 3) if isinstance(v, float) else v for k, v in p.items()}}))
        distinct = {p["fallback"]: p for p in reversed(summary["points"])}  # one point per share falling back
        curves[name] = [(p["prompt_tokens"], p["hybrid_accuracy"], _label(p)) for p in sorted(
            distinct.values(), key=lambda p: p["fallback"])]
    if figure:
        plots.tradeoff(curves, Path(figure), "Hybrid answers (labels: share falling back to text)",
                       "mean prompt tokens per question")


if __name__ == "__main__":
    main()
