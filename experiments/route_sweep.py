"""How often the routed passage holds the answer: embeddings alone, or reranked by question likelihood.

Development fact documents (never trained on, `fact_documents`) cut by `split_passages`; for each
question the ``--candidates`` passages closest by all-MiniLM-L6-v2 are scored once by
`QuestionLikelihood`, then every (candidates, weight) pair of the sweep is read off those scores.
No adapters are made: this measures routing only. Figures in BENCHMARKS.md ("Routing passages by
question likelihood"):

    OMP_NUM_THREADS=2 python -m experiments.route_sweep --passage-tokens 24
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence

from lora_memory.backbone import Backbone
from lora_memory.evaluation.doc2lora_eval import fact_documents
from lora_memory.passages import PASSAGE_TOKENS, split_passages
from lora_memory.router import QuestionLikelihood, Router, rerank

SECTIONS = ("Routing passages by question likelihood",)  # the BENCHMARKS.md sections this reproduces

# (documents, entities per document, seed): the development sets of BENCHMARKS.md's "Passages"
SETS = ((32, 1, 4242), (32, 1, 99), (16, 2, 5150), (8, 4, 5150), (3, 10, 5150))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passage-tokens", type=int, default=PASSAGE_TOKENS)
    parser.add_argument("--candidates", type=int, default=6, help="most passages reranked per question")
    parser.add_argument("--weights", default="0,2,5,10,20", help="cosine weights to sweep")
    args = parser.parse_args(argv)
    backbone = Backbone.load(None)
    router, likelihood = Router.default(backbone), QuestionLikelihood(backbone)
    weights = [float(w) for w in args.weights.split(",")]
    depths = sorted({n for n in (2, 3, 4, args.candidates) if n <= args.candidates})
    hits: dict[str, int] = {}
    total = 0
    for documents, entities, seed in SETS:
        for sample in fact_documents(random.Random(seed), documents, entities):
            passages = split_passages(backbone, sample.document, args.passage_tokens)
            matrix = router.embed(passages)
            for qa, embedded in zip(sample.qas, router.embed([qa.question for qa in sample.qas]), strict=True):
                route = router.top_k(embedded, matrix, args.candidates)
                scores = likelihood([(passages[i], qa.question) for i, _ in route])
                hits["embeddings"] = hits.get("embeddings", 0) + (qa.answer in passages[route[0][0]])
                for n in depths:
                    key = f"any of {n} candidates"
                    hits[key] = hits.get(key, 0) + any(qa.answer in passages[i] for i, _ in route[:n])
                    for w in weights:
                        best = rerank(route[:n], scores[:n], 1, weight=w)[0][0]
                        key = f"rerank {n} candidates, weight {w:g}"
                        hits[key] = hits.get(key, 0) + (qa.answer in passages[best])
                total += 1
    print(json.dumps({"passage_tokens": args.passage_tokens, "questions": total,
                      "routed_holds_answer": {k: round(v / total, 3) for k, v in hits.items()}}, indent=1))


if __name__ == "__main__":
    main()
