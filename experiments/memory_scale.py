"""A memory of many short real documents: add throughput, store size, ask latency and peak memory.

Wikipedia summaries (`draw_articles`: the 896 held out first, then training ones). ``--add`` of them go through
`ParametricMemory.add_documents` with the shipped network (documents/s, stored bytes per
document). To reach ``--documents`` without hours of internalizing on a shared CPU, the others
are written through the store itself (`Store.put_segments`, the same rows and codec ``add`` uses)
with their own text cut by `split_segments` and the adapters of the internalized segments reused
in turn: an adapter's content does not change what routing, the store or generation cost. Then
``--questions`` cloze questions about stored documents are asked one by one (`ask`: route over
every segment's embedding, rerank 3, generate ``--new-tokens``): the first question, which embeds
every segment once, is timed apart; p50/p95 over the rest, also for `route_segments` alone.
Peak RSS is the process's (run one size per process).

``--routing-only`` measures what grows with the memory's size and nothing else: documents are
written with a one-row adapter (held-out summaries, then training ones past the 896 held out),
segments are embedded by a hashed bag of words (384 dims, like
MiniLM's) and `route_segments` runs without reranking, for each of ``--sizes``; the question's
embedding, the reranker (3 candidates) and generation cost the same at any size. Figures in
BENCHMARKS.md ("A memory of many documents"):

    OMP_NUM_THREADS=1 python -m experiments.memory_scale --documents 100
    OMP_NUM_THREADS=1 python -m experiments.memory_scale --documents 1000
    OMP_NUM_THREADS=2 python -m experiments.memory_scale --routing-only --sizes 100,1000,10000
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
import zlib
from collections.abc import Sequence
from pathlib import Path

import torch
from tqdm.auto import tqdm

from experiments._network import storage_budget
from lora_memory import Backbone, ParametricMemory
from lora_memory.data.realtext import Article, cloze_question, split_sentences, wiki_articles
from lora_memory.hypernets.checkpoint import load_default
from lora_memory.segments import STORAGE_BUDGET, split_segments
from lora_memory.store import Segment
from lora_memory.testing import random_adapter

SECTIONS = ("A memory of many documents",)  # the BENCHMARKS.md sections this reproduces


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


class HashedWords:
    """A bag of words hashed into 384 buckets: an instant stand-in for MiniLM when only routing's
    growth with the memory is measured."""

    name = "hashed-words-384"

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        out = torch.zeros(len(texts), 384)
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i, zlib.crc32(word.encode()) % 384] += 1
        return out


def draw_articles(rng: random.Random, n: int) -> list[Article]:
    """``n`` Wikipedia summaries: the 896 held-out ones first (shuffled), then training ones, then
    repeats under new titles. Past the held-out set the text's provenance does not change what
    routing, the store or generation cost, only whether the network has seen it."""
    heldout = list(wiki_articles("heldout"))
    rng.shuffle(heldout)
    pool = heldout + list(wiki_articles("train"))
    return [Article(f"{a.title} ({i // len(pool)})" if i >= len(pool) else a.title, a.text, a.topic)
            for i, a in ((i, pool[i % len(pool)]) for i in range(n))]


def routing_only(backbone: Backbone, articles: list, sizes: list[int], questions: int, rng: random.Random) -> None:
    """Route ``questions`` questions in memories of each of ``sizes`` documents (see the module docstring)."""
    adapter = random_adapter(backbone, layers=(15,), rank=1)
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="memory-scale-") as tmp, ParametricMemory(
            Path(tmp) / "memory", backbone=backbone, encoder=HashedWords(), rerank=False
        ) as memory:
            store = memory._store  # noqa: SLF001
            start = time.perf_counter()
            for article in tqdm(articles[:size], desc=f"store {size}", unit="doc"):
                texts = split_segments(backbone, article.text, memory.segment_tokens) or [article.text]
                store.put_segments(article.title, article.text, [Segment(t, 1, adapter) for t in texts],
                                   identity=backbone.identity, tokens=1, precision=memory.precision)
            write_s = time.perf_counter() - start
            asked = [rng.choice(split_sentences(a.text)) for a in rng.sample(articles[:size], min(size, questions))]
            start = time.perf_counter()
            memory.route_segments(asked[0])
            first = time.perf_counter() - start
            spent, found = [], 0
            for article_sentence in asked:
                start = time.perf_counter()
                memory.route_segments(article_sentence)
                spent.append(time.perf_counter() - start)
            print(json.dumps({
                "documents": size, "segments": store.segment_count(), "write_documents_per_s": round(size / write_s, 1),
                "first_route_s (embeds every segment)": round(first, 2),
                "route_p50_ms": round(1000 * _percentile(spent, 0.5), 2), "route_p95_ms": round(1000 * _percentile(spent, 0.95), 2),
                "questions": len(spent), "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            }), flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100, help="documents in the memory")
    parser.add_argument("--add", type=int, default=8, help="of them, added through ParametricMemory.add_documents")
    parser.add_argument("--questions", type=int, default=21, help="questions asked (the first one timed apart)")
    parser.add_argument("--new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--storage-budget", type=storage_budget, default=STORAGE_BUDGET,
                        help="the memory's storage budget (fraction of the KV cache) or 'none' (every row)")
    parser.add_argument("--routing-only", action="store_true", help="measure routing's growth with size alone")
    parser.add_argument("--sizes", default="100,1000,10000", help="memory sizes for --routing-only")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    backbone = Backbone.load(None)
    if args.routing_only:
        sizes = [int(x) for x in args.sizes.split(",")]
        routing_only(backbone, draw_articles(rng, max(sizes)), sizes, args.questions, rng)
        return
    articles = draw_articles(rng, args.documents)
    net = load_default("doc2lora", backbone)
    with tempfile.TemporaryDirectory(prefix="memory-scale-") as tmp, ParametricMemory(
        Path(tmp) / "memory", backbone=backbone, doc2lora=net, max_new_tokens=args.new_tokens,
        storage_budget=args.storage_budget,
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
            sentence = rng.choice(split_sentences(article.text))
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
            "ask_p50_s": round(_percentile(ask_s, 0.5), 3), "ask_p95_s": round(_percentile(ask_s, 0.95), 3),
            "route_p50_s": round(_percentile(route_s, 0.5), 3), "route_p95_s": round(_percentile(route_s, 0.95), 3),
            "ask_mean_s": round(statistics.mean(ask_s), 3), "questions": len(ask_s),
            "routed_to_the_right_document": round(found / len(ask_s), 3),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        }), flush=True)


if __name__ == "__main__":
    main()
