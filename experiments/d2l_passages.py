"""Whole document or passages? Held-out fact documents stored in a `ParametricMemory` either way.

Each held-out document (K fictional entities' facts run together, `fact_documents`) is
internalized whole (``--passage-tokens 0``), or goes into a fresh `ParametricMemory` as
`split_passages` pieces, one adapter each, and every question is asked through `ask_batch`,
routed to the ``--top-k`` most similar pieces (all-MiniLM-L6-v2, reranked by question likelihood
unless ``--no-rerank``; `answer_from_passages`). Prints exact match, token F1 and how often a
routed piece holds the answer. Figures in BENCHMARKS.md ("Passages", "Routing passages by
question likelihood"):

    OMP_NUM_THREADS=2 python -m experiments.d2l_passages --facts 8 --entities 4 --seed 5150 [--no-rerank]
    OMP_NUM_THREADS=2 python -m experiments.d2l_passages --facts 8 --entities 4 --seed 5150 --passage-tokens 0
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence

from experiments._network import add_network_arguments, load_network
from lora_memory.backbone import Backbone
from lora_memory.evaluation.doc2lora_eval import fact_documents
from lora_memory.evaluation.qa import answer_from_memory, answer_samples, summarize
from lora_memory.passages import PASSAGE_TOKENS

SECTIONS = ("Passages", "Routing passages by question likelihood")  # the BENCHMARKS.md sections this reproduces


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=8, help="held-out fact documents")
    parser.add_argument("--entities", type=int, default=4, help="fact documents run together into one")
    parser.add_argument("--seed", type=int, default=5150)
    parser.add_argument("--passage-tokens", type=int, default=PASSAGE_TOKENS,
                        help="longest passage; 0 = the whole document, one adapter")
    parser.add_argument("--top-k", type=int, default=1, help="stored pieces each question runs with")
    parser.add_argument("--no-rerank", action="store_true", help="route by embeddings alone")
    add_network_arguments(parser)
    args = parser.parse_args(argv)
    backbone = Backbone.load(None)
    net = load_network(args, backbone)
    facts = fact_documents(random.Random(args.seed), args.facts, args.entities)
    if args.passage_tokens:
        records = answer_from_memory(backbone, net, facts, segment_tokens=args.passage_tokens, top_k=args.top_k,
                                     precision="fp32", storage_budget=None,  # as the figures were measured
                                       rerank=not args.no_rerank, max_new_tokens=32)
    else:  # the whole document, one adapter: what a memory of one document answers with
        records = answer_samples(backbone, facts, "doc2lora", net, max_new_tokens=32)
    summary = summarize(records)
    routed = sum(r.get("routed_holds_answer", True) for r in records) / len(records)
    print(json.dumps({"entities": args.entities, "seed": args.seed, "passage_tokens": args.passage_tokens,
                      "top_k": args.top_k, "rerank": not args.no_rerank, "surprise_rows": net.config.surprise_rows,
                      "surprise_nats": net.config.surprise_nats,
                      "questions": len(records), "exact": round(summary["all_exact"], 3),
                      "f1": round(summary["all_f1"], 3), "routed_holds_answer": round(routed, 3)}))


if __name__ == "__main__":
    main()
