"""Why does the shipped Doc-to-LoRA miss needles in 32K-token documents? Separate the causes.

For held-out needle documents of each length and depth, the needle is asked with four adapters:
``folded`` (what `internalize` returns: chunk adapters concatenated, then SVD-folded with the
spectrum capped), ``concat`` (the same chunks concatenated, unfolded), ``window8`` (only the 8
chunks around the needle, concatenated: a 4K document's worth) and ``needle_chunk`` (the needle's
chunk alone). If ``needle_chunk`` answers and ``concat`` does not, the other chunks drown it; if
``concat`` answers and ``folded`` does not, folding loses it. Figures quoted in BENCHMARKS.md:

    OMP_NUM_THREADS=1 python -m experiments.d2l_long_probe --lengths 8192,32768 --depths 5 --out runs/d2l-long-probe.json
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence

from lora_memory.backbone import Backbone
from lora_memory.chunking import chunk_token_ids
from lora_memory.data.synthetic import needle_sample
from lora_memory.evaluation.qa import exact_match
from lora_memory.generation import answer
from lora_memory.hypernets.checkpoint import load_default
from lora_memory.hypernets.chunk_policy import fold_chunks
from lora_memory.hypernets.doc2lora import internalize

SECTIONS = ("Why 32K-token documents failed",)  # the BENCHMARKS.md sections this reproduces

CONDITIONS = ("folded", "concat", "window8", "needle_chunk")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="8192,32768")
    parser.add_argument("--depths", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--out", default="runs/d2l-long-probe.json")
    args = parser.parse_args(argv)
    backbone = Backbone.load(None)
    net = load_default("doc2lora", backbone)
    size = net.chunk_tokens  # every adapter here from the same chunks
    rng = random.Random(args.seed)
    count = lambda s: len(backbone.tokenize(s))  # noqa: E731
    rows = []
    for n in [int(x) for x in args.lengths.split(",")]:
        for depth in [i / max(1, args.depths - 1) for i in range(args.depths)]:
            sample = needle_sample(rng, "heldout", n, count, depth=depth)
            qa = sample.qas[0]
            chunks = [backbone.tokenizer.decode(c) for c in chunk_token_ids(backbone.tokenize(sample.document),
                                                                             size, backbone.sentence_breaks)]
            at = next((i for i, c in enumerate(chunks) if qa.answer in c), None)
            if at is None:  # the needle straddles a chunk boundary: no single chunk holds it
                continue
            lo = max(0, min(at - 4, len(chunks) - 8))
            concat = internalize(backbone, net, sample.document, chunk_tokens=size, compress=False)
            adapters = {"folded": fold_chunks(concat, concat.rank() // concat.metadata["chunks"]), "concat": concat,
                        "window8": internalize(backbone, net, "".join(chunks[lo:lo + 8]), chunk_tokens=size,
                                               compress=False),
                        "needle_chunk": internalize(backbone, net, chunks[at], chunk_tokens=size)}
            row = {"length": n, "depth": depth, "chunks": len(chunks), "needle_at": at, "gold": qa.answer}
            for name, adapter in adapters.items():
                reply = answer(backbone, qa.question, adapter, max_new_tokens=12)
                row[name] = {"reply": reply, "correct": exact_match(reply, qa.answer)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    summary = {c: {n: sum(r[c]["correct"] for r in rows if r["length"] == n) / max(1, sum(r["length"] == n for r in rows))
                   for n in sorted({r["length"] for r in rows})} for c in CONDITIONS}
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump({"rows": rows, "summary": summary}, f, indent=2)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
