"""A memory of many short real documents: add throughput, store size, ask latency and peak memory.

Held-out Wikipedia summaries (`wiki_articles`, never trained on). ``--add`` of them go through
`ParametricMemory.add_documents` with the shipped network (documents/s, stored bytes per
document). To reach ``--documents`` without hours of internalizing on a shared CPU, the others
are written through the store itself (`Store.put_segments`, the same rows and codec ``add`` uses)
with their own text cut by `split_segments` and the adapters of the internalized segments reused
in turn: an adapter's content does not change what routing, the store or generation cost. Then
``--questions`` cloze questions about stored documents are asked one by one (`ask`: route over
every segment's embedding, rerank 3, generate ``--new-tokens``): the first question, which embeds
every segment once, is timed apart; p50/p95 over the rest, also for `route_segments` alone.
Peak RSS is the process's (run one size per process). Figures in BENCHMARKS.md ("A memory of many
documents"):

    OMP_NUM_THREADS=2 python -m experiments.memory_scale --documents 100
    OMP_NUM_THREADS=2 python -m experiments.memory_scale --documents 1000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from tqdm.auto import tqdm

from lora_memory import Backbone, ParametricMemory
from lora_memory.data.realtext import _sentences, cloze_question, wiki_articles
from lora_memory.hypernets.checkpoint import load_default
from lora_memory.segments import split_segments
from lora_memory.store import Segment

SECTIONS = ("A memory of many documents",)  # the BENCHMARKS.md sections this reproduces


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 3)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100, help="documents in the memory")
    parser.add_argument("--add", type=int, default=8, help="of them, added through ParametricMemory.add_documents")
    parser.add_argument("--questions", type=int, default=21, help="questions asked (the first one timed apart)")
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=21)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    articles = list(wiki_articles("heldout"))
    rng.shuffle(articles)
    articles = articles[: args.documents]
    backbone = Backbone.load(None)
    net = load_default("doc2lora", backbone)
    with tempfile.TemporaryDirectory(prefix="memory-scale-") as tmp, ParametricMemory(
        Path(tmp) / "memory", backbone=backbone, doc2lora=net, max_new_tokens=args.new_tokens
    ) as memory:
        start = time.perf_counter()
        memory.add_documents([a.text for a in articles[: args.add]], ids=[a.title for a in articles[: args.add]])
        add_seconds = time.perf_counter() - start
        pool = [(s.text, memory._store.adapter(s.document_id, s.position))  # noqa: SLF001
                for a in articles[: args.add] for s in memory.segments(a.title)]
        store = memory._store  # noqa: SLF001
        n = 0
        for article in tqdm(articles[args.add :], desc="store", unit="doc"):
            texts = split_segments(backbone, article.text, memory.segment_tokens) or [article.text]
            segments = []
            for text in texts:
                segments.append(Segment(text, len(backbone.tokenize(text)), pool[n % len(pool)][1]))
                n += 1
            store.put_segments(article.title, article.text, segments, identity=backbone.identity,
                               tokens=len(backbone.tokenize(article.text)), precision=memory.precision)
        asked = []
        for article in rng.sample(articles, len(articles)):
            sentence = rng.choice(_sentences(article.text))
            if qa := cloze_question(rng, "heldout", sentence):
                asked.append((article.title, qa))
            if len(asked) == args.questions:
                break
        start = time.perf_counter()
        memory.ask(asked[0][1].question)
        first = time.perf_counter() - start
        ask_s, route_s, found = [], [], 0
        for title, qa in tqdm(asked[1:], desc="ask", unit="question"):
            start = time.perf_counter()
            memory.route_segments(qa.question)
            route_s.append(time.perf_counter() - start)
            start = time.perf_counter()
            reply = memory.ask(qa.question)
            ask_s.append(time.perf_counter() - start)
            found += reply.document_ids == [title]
        disk = sum(p.stat().st_size for p in (Path(tmp) / "memory").rglob("*") if p.is_file())
        print(json.dumps({
            "documents": len(memory), "segments": store.segment_count(),
            "added_with_network": args.add, "add_documents_per_s": round(args.add / add_seconds, 3),
            "stored_bytes_on_disk": disk, "disk_bytes_per_document": round(disk / len(memory)),
            "first_ask_s (embeds every segment)": round(first, 2),
            "ask_p50_s": _percentile(ask_s, 0.5), "ask_p95_s": _percentile(ask_s, 0.95),
            "route_p50_s": _percentile(route_s, 0.5), "route_p95_s": _percentile(route_s, 0.95),
            "ask_mean_s": round(statistics.mean(ask_s), 3), "questions": len(ask_s),
            "routed_to_the_right_document": round(found / len(ask_s), 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }), flush=True)


if __name__ == "__main__":
    main()
