"""Documents as segments: what segment size, stored precision and storage budget cost in quality and bytes.

Every document goes into a fresh `ParametricMemory` by ``add`` (the path users take: segments of
whole sentences, one adapter each, rows cut to the storage budget) and its questions are asked
through ``ask_batch`` (`answer_from_memory`). Two held-out sets: fact documents of ``--entities``
fictional entities each (`fact_documents`), and the upstream needle hidden in held-out Wikipedia
prose (`prose_needle_sample`) at ``--needle-lengths`` tokens and ``--needle-depths`` depths. One
JSON line per setting (segment tokens x precision x budget): exact match, how often the routed
segment holds the answer, stored adapter bytes per document token and against the fp16 KV cache
of the same text, and seconds to add a document. Figures in BENCHMARKS.md ("Documents as segments"):

    OMP_NUM_THREADS=2 python -m experiments.memory_segments --segment-tokens 64,128,256 --precisions int8
    OMP_NUM_THREADS=2 python -m experiments.memory_segments --segment-tokens 128 --precisions fp16,fp32
    OMP_NUM_THREADS=2 python -m experiments.memory_segments --segment-tokens 128 --precisions int8 --budget none
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence

from tqdm.auto import tqdm

from experiments._network import add_network_arguments, load_network, storage_budget
from lora_memory.backbone import Backbone
from lora_memory.data.realtext import prose_needle_sample
from lora_memory.evaluation.doc2lora_eval import fact_documents
from lora_memory.evaluation.qa import answer_from_memory

SECTIONS = ("Documents as segments",)  # the BENCHMARKS.md sections this reproduces


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=4, help="held-out fact documents")
    parser.add_argument("--entities", type=int, default=4, help="entities per fact document")
    parser.add_argument("--needle-lengths", default="1024,4096", help="prose needle document lengths (tokens)")
    parser.add_argument("--needle-depths", type=int, default=3, help="needle depths per length")
    parser.add_argument("--segment-tokens", default="128", help="comma-separated segment sizes to compare")
    parser.add_argument("--precisions", default="int8", help="comma-separated stored precisions to compare")
    parser.add_argument("--budget", type=storage_budget, default=0.25,
                        help="storage budget (fraction of the KV cache) or 'none'")
    parser.add_argument("--seed", type=int, default=5150)
    add_network_arguments(parser)
    args = parser.parse_args(argv)
    backbone = Backbone.load(None)
    net = load_network(args, backbone)
    rng = random.Random(args.seed)
    facts = fact_documents(rng, args.facts, args.entities)
    count = lambda s: len(backbone.tokenize(s))  # noqa: E731
    depths = [i / max(1, args.needle_depths - 1) for i in range(args.needle_depths)]
    needles = [(n, prose_needle_sample(rng, "heldout", n, count, depth=d))
               for n in _ints(args.needle_lengths) for d in depths]
    kv_per_token = backbone.kv_cache_bytes(1)
    settings = [(s, p) for s in _ints(args.segment_tokens) for p in args.precisions.split(",")]
    for segment_tokens, precision in tqdm(settings, desc="settings", unit="setting"):
        run = lambda samples: answer_from_memory(  # noqa: E731
            backbone, net, samples, segment_tokens=segment_tokens, precision=precision, storage_budget=args.budget,
            max_new_tokens=24,
        )
        fact_records = run(facts)
        needle_records = run([s for _, s in needles])
        documents = {}
        for r in fact_records + [{**r, "document": ("needle", r["document"])} for r in needle_records]:
            documents[("facts", r["document"]) if isinstance(r["document"], int) else r["document"]] = r
        tokens = sum(r["tokens"] for r in documents.values())
        stored = sum(r["stored_bytes"] for r in documents.values())
        out = {
            "segment_tokens": segment_tokens, "precision": precision, "budget": args.budget,
            "facts_exact": round(sum(r["exact"] for r in fact_records) / len(fact_records), 3),
            "facts_routed_holds_answer": round(sum(r["routed_holds_answer"] for r in fact_records) / len(fact_records), 3),
            "facts_questions": len(fact_records),
            "needles": {str(n): round(sum(r["exact"] for (m, _), r in zip(needles, needle_records, strict=True) if m == n)
                                      / sum(1 for m, _ in needles if m == n), 3) for n in _ints(args.needle_lengths)},
            "needle_routed_holds_answer": round(sum(r["routed_holds_answer"] for r in needle_records)
                                                / max(1, len(needle_records)), 3),
            "stored_bytes_per_token": round(stored / tokens, 1),
            "stored_over_kv": round(stored / (tokens * kv_per_token), 4),
            "max_document_stored_over_kv": round(max(r["stored_bytes"] / (r["tokens"] * kv_per_token)
                                                      for r in documents.values()), 4),
            "add_seconds_per_1k_tokens": round(1000 * sum(r["internalize_s"] for r in documents.values()) / tokens, 2),
        }
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
