"""What reranking costs a question: `route` and `ask` timed with and without it.

A memory holds the passages of ``--documents`` development fact documents (4 entities each,
`split_passages`); every question of theirs is routed, and ``--asks`` of them answered
(``--new-tokens`` tokens), first without reranking, then with it; medians in seconds. Also what a
passage costs to hold: its adapter's fp32 bytes against its text's fp16 KV cache. Figures in
BENCHMARKS.md ("Routing passages by question likelihood"):

    OMP_NUM_THREADS=2 python -m experiments.route_latency
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Sequence

from lora_memory import Backbone, ParametricMemory, split_passages
from lora_memory.evaluation.doc2lora_eval import fact_documents

SECTIONS = ("Routing passages by question likelihood",)  # the BENCHMARKS.md sections this reproduces


def _median_seconds(call, items) -> float:
    spent = []
    for item in items:
        start = time.perf_counter()
        call(item)
        spent.append(time.perf_counter() - start)
    return round(statistics.median(spent), 3)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=4)
    parser.add_argument("--asks", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=5150)
    args = parser.parse_args(argv)
    backbone = Backbone.load(None)
    docs = fact_documents(random.Random(args.seed), args.documents, 4)
    questions = [qa.question for doc in docs for qa in doc.qas]
    with ParametricMemory(backbone=backbone) as memory:
        for doc in docs:
            memory.add_documents(split_passages(backbone, doc.document), progress=False)
        memory.route(questions[0])  # load the encoder and embed the passages before timing
        report = memory.memory_report()
        results = {"passages": len(memory), "questions": len(questions),
                   "adapter_bytes_per_passage": report["adapter_bytes"] / len(memory),
                   "kv_cache_bytes_fp16_per_passage": report["kv_cache_bytes_fp16"] / len(memory)}
        for rerank in (False, True):
            memory.rerank = rerank
            results[f"rerank={rerank}"] = {
                "route_median_s": _median_seconds(memory.route, questions),
                "ask_median_s": _median_seconds(
                    lambda q: memory.ask(q, max_new_tokens=args.new_tokens), questions[: args.asks]
                ),
            }
    print(json.dumps(results))


if __name__ == "__main__":
    main()
