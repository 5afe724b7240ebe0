"""``lora-memory eval doc2lora``: the NIAH grid and held-out fact QA, D2L against the baselines.

Methods: ``doc2lora`` (the document internalized, with chunking, NOT in the prompt),
``in_context`` (the document in the prompt, its head kept when it exceeds the window),
``no_context`` (the question alone: proves answers come from the document, not prior knowledge)
``doc2lora_int8`` (the same adapter stored as int8 rows, to price that compression on quality)
and, on fact QA only, ``doc2lora_passages`` (each document stored by `ParametricMemory.add`:
segments, one adapter each, every question routed to its best segment) and ``cd``:
gradient context distillation into a LoRA of the D2L adapter's shape, scored after each of
``cd_steps`` steps and after as many steps as fit in D2L's own wall time (snapshots of one run
per document: a learning curve, quality against update time). The long-document benchmark
(`evaluation.long_documents`) asks planted facts and the needle in real prose of ``long_lengths``
through `ParametricMemory`, against RAG over the same segments and in-context.
"""

from __future__ import annotations

import functools
import json
import platform
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from lora_memory.adapter import LoraAdapter
from lora_memory.adapter_io import roundtrip
from lora_memory.backbone import Backbone
from lora_memory.evaluation.context_distill import context_distill
from lora_memory.evaluation import plots
from lora_memory.evaluation.qa import QA_METHODS, answer_from_memory, answer_samples, fit_in_window, summarize
from lora_memory.generation import in_context_question
from lora_memory.config import ResultsConfig
from lora_memory.hypernets.doc2lora import DocToLoRA, internalize
from lora_memory.segments import SEGMENT_TOKENS, STORAGE_BUDGET
from lora_memory.data.realtext import prose_needle_sample
from lora_memory.evaluation.long_documents import (
    LONG_METHODS,
    accuracy_grids,
    long_document_records,
    long_document_samples,
    summarize_long,
)
from lora_memory.evaluation.real_docs_eval import REAL_METHODS, evaluate_real_documents
from lora_memory.data.real_documents import HANDWRITTEN, REAL_DOCS, real_documents
from lora_memory.data.synthetic import NEEDLE_DEPTHS, DocSample, fact_sample, multi_fact_sample, needle_sample


HAYSTACKS = ("filler", "prose")
# scored on fact QA only (the long-document memory benchmark is experiments/memory_segments.py)
PASSAGES = "doc2lora_passages"
REAL_SETS = {"software": REAL_DOCS, "handwritten": HANDWRITTEN}  # ``real_set`` -> the data file it reads


@dataclass
class Doc2LoRAEvalConfig(ResultsConfig):
    """An evaluation run; every field is also a ``lora-memory eval doc2lora`` flag.

    Attributes:
        out: directory for results.json and the PNG figures.
        checkpoint: doc2lora checkpoint (None = the shipped one).
        lengths: comma-separated NIAH document lengths in tokens.
        haystacks: comma-separated NIAH haystacks: ``filler`` (the upstream repeated sentences)
            and ``prose`` (held-out Wikipedia summaries, `data.realtext`).
        depths: number of evenly spaced needle depths (10 upstream).
        facts: held-out fact documents.
        fact_entities: entities per fact document (3 facts and 3 distractors each, every question
            asked); one entity is the easy case, several is where D2L breaks (BENCHMARKS.md).
        methods: comma-separated subset of doc2lora,doc2lora_int8,doc2lora_passages,in_context,
            no_context,cd (doc2lora_passages and cd: fact QA only).
        real_methods: comma-separated methods on the real software documents
            (`evaluation.real_docs_eval`: no_context,in_context,rag,doc2lora,memory; '' = skip).
        real_set: which documents those methods read: ``software`` (the real software documents)
            or ``handwritten`` (short fictional fact documents written by hand,
            `data.real_documents.HANDWRITTEN`).
        passage_tokens: longest segment of ``doc2lora_passages`` and of the long-document
            benchmark's memory (`ParametricMemory`'s ``segment_tokens``).
        cd_steps: comma-separated step counts at which the context-distillation baseline is scored.
        cd_lr: Adam learning rate of the context-distillation baseline.
        max_new_tokens: answer length cap for every method; the in-context model restates the
            question before the answer, and 16 tokens cut it off mid-answer.
        long_lengths: comma-separated lengths (tokens) of the long-document benchmark
            (`evaluation.long_documents`: real prose with planted facts and the needle, through
            `ParametricMemory`; '' = skip).
        long_depths: evenly spaced depths of the long-document benchmark (a fact at each).
        long_documents: long documents per length (the needle's depth rotates over them).
        long_methods: comma-separated subset of memory,rag,in_context,no_context.
        storage_budget: every memory's `ParametricMemory` ``storage_budget`` (a segment's stored
            bytes at most this fraction of its text's fp16 KV cache; default the memory's, 0 = every row).
        seed: seeds the held-out samples.
    """

    out: str = "runs/eval-doc2lora"
    lengths: str = "256,512,1024,2048,4096,8192,16384,32768"
    haystacks: str = "filler,prose"
    depths: int = 10
    facts: int = 48
    fact_entities: int = 1
    methods: str = ",".join((*QA_METHODS, "doc2lora_int8", PASSAGES, "cd"))
    real_methods: str = ",".join(REAL_METHODS)
    real_set: str = "software"
    passage_tokens: int = SEGMENT_TOKENS
    cd_steps: str = "5,10,25,50"
    cd_lr: float = 1e-2
    max_new_tokens: int = 32
    long_lengths: str = "1024,4096,8192,16384,32768"
    long_depths: int = 10
    long_documents: int = 1
    long_methods: str = ",".join(LONG_METHODS)
    storage_budget: float = STORAGE_BUDGET
    seed: int = 1234


@dataclass
class _Results:
    config: dict
    machine: dict
    niah: list[dict] = field(default_factory=list)
    facts: dict[str, dict[str, float]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    cd: dict[str, Any] = field(default_factory=dict)
    real_documents: dict[str, dict] = field(default_factory=dict)
    long_documents: dict[str, Any] = field(default_factory=dict)


def niah_samples(
    backbone: Backbone, lengths: list[int], depths: int, seed: int, haystack: str = "filler"
) -> list[tuple[int, float, DocSample]]:
    """Held-out needle documents at every length and depth, in repeated ``filler`` (upstream) or
    real ``prose`` (held-out Wikipedia articles)."""
    if haystack not in HAYSTACKS:
        raise ValueError(f"haystack must be one of {HAYSTACKS}, got {haystack!r}")
    rng = random.Random(seed)
    count = lambda s: len(backbone.tokenize(s))  # noqa: E731
    levels = NEEDLE_DEPTHS if depths == len(NEEDLE_DEPTHS) else [i / max(1, depths - 1) for i in range(depths)]
    make = needle_sample if haystack == "filler" else prose_needle_sample
    return [(n, d, make(rng, "heldout", n, count, depth=d)) for n in lengths for d in levels]


def fact_documents(rng: random.Random, n: int, entities: int = 1) -> list[DocSample]:
    """``n`` held-out fact documents of ``entities`` entities each (3 facts, 3 distractors per entity)."""
    if entities == 1:  # drawn as before multi-entity documents existed, so earlier figures reproduce
        return [fact_sample(rng, "heldout", n_facts=3, n_distractors=3) for _ in range(n)]
    return [multi_fact_sample(rng, "heldout", entities, n_facts=3, n_distractors=3) for _ in range(n)]


def evaluate_doc2lora(config: Doc2LoRAEvalConfig, backbone: Backbone, hypernet: DocToLoRA) -> dict:
    """Run the grid and the fact set for every method; write results.json and figures."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    methods = [m for m in config.methods.split(",") if m]
    lengths = [int(n) for n in config.lengths.split(",") if n]
    if config.real_set not in REAL_SETS:
        raise ValueError(f"real_set must be one of {sorted(REAL_SETS)}, got {config.real_set!r}")
    if config.storage_budget < 0:
        raise ValueError(f"storage_budget must be a fraction >= 0 of the KV cache (0 = every row), got {config.storage_budget}")
    budget = config.storage_budget or None
    results = _Results(
        config=config.to_dict(),
        machine={"platform": platform.platform(), "torch": torch.__version__, "device": str(backbone.device),
                 "threads": torch.get_num_threads(), "checkpoint_card": getattr(hypernet, "card", {})},
    )
    haystacks = [h for h in config.haystacks.split(",") if h]
    grid = [(h, *cell) for h in haystacks for cell in niah_samples(backbone, lengths, config.depths, config.seed, h)]
    rng = random.Random(config.seed + 1)
    facts = fact_documents(rng, config.facts, config.fact_entities)
    cache: dict[str, LoraAdapter] = {}

    def d2l(sample: DocSample) -> LoraAdapter:
        # each document is internalized once per run: the int8 and CD variants reuse its adapter
        if sample.document not in cache:
            cache[sample.document] = internalize(backbone, hypernet, sample.document)
        return cache[sample.document]

    ask = functools.partial(answer_samples, max_new_tokens=config.max_new_tokens)
    makers = {"doc2lora": d2l, "doc2lora_int8": lambda s: roundtrip(d2l(s), "int8")}
    for method in [m for m in methods if m not in ("cd", PASSAGES)]:
        start = time.perf_counter()
        for haystack, n, depth, sample in tqdm(grid, desc=f"NIAH {method}", unit="doc"):
            doc = fit_in_window(backbone, sample) if method == "in_context" else sample
            record = ask(backbone, [doc], method, hypernet, adapter_for=makers.get(method))[0]
            results.niah.append({"method": method, "haystack": haystack, "length": n, "depth": depth, **record})
        if facts:
            fact_docs = [fit_in_window(backbone, s) for s in facts] if method == "in_context" else facts
            summary = summarize(ask(backbone, fact_docs, method, hypernet, adapter_for=makers.get(method)))
            results.facts[method] = {"exact": summary["all_exact"], "f1": summary["all_f1"]}
        results.seconds[method] = round(time.perf_counter() - start, 1)
    if PASSAGES in methods and facts:
        start = time.perf_counter()
        records = answer_from_memory(backbone, hypernet, facts, segment_tokens=config.passage_tokens,
                                     max_new_tokens=config.max_new_tokens, storage_budget=budget)
        summary = summarize(records)
        routed = sum(r["routed_holds_answer"] for r in records) / len(records)
        per_document = {r["document"]: r["internalize_s"] for r in records}
        results.facts[PASSAGES] = {"exact": summary["all_exact"], "f1": summary["all_f1"],
                                   "routed_holds_answer": routed,
                                   "internalize_seconds_per_document": sum(per_document.values()) / len(per_document)}
        results.seconds[PASSAGES] = round(time.perf_counter() - start, 1)
    if "cd" in methods and facts:
        _context_distillation(config, backbone, hypernet, facts, results, d2l)
    long_lengths = [int(n) for n in config.long_lengths.split(",") if n]
    long_methods = [m for m in config.long_methods.split(",") if m]
    if long_lengths and long_methods:
        start = time.perf_counter()
        samples = long_document_samples(backbone, long_lengths, config.long_depths, config.long_documents,
                                        config.seed + 2)
        records = long_document_records(backbone, hypernet, samples, long_methods,
                                        segment_tokens=config.passage_tokens, max_new_tokens=config.max_new_tokens,
                                        storage_budget=budget)
        results.long_documents = {"lengths": long_lengths, "summary": summarize_long(records), "records": records}
        results.seconds["long_documents"] = round(time.perf_counter() - start, 1)
    real = [m for m in config.real_methods.split(",") if m]
    if real:
        start = time.perf_counter()
        results.real_documents = evaluate_real_documents(backbone, hypernet, real, config.max_new_tokens,
                                                          samples=real_documents(source=REAL_SETS[config.real_set]),
                                                          storage_budget=budget)
        results.seconds["real_documents"] = round(time.perf_counter() - start, 1)
    return {**results.__dict__, "niah_by_length": _write(results, out, lengths)}


def _context_distillation(
    config: Doc2LoRAEvalConfig,
    backbone: Backbone,
    hypernet: DocToLoRA,
    facts: list[DocSample],
    results: _Results,
    d2l: Callable[[DocSample], LoraAdapter],
) -> None:
    """Score CD on the fact set along its learning curve and at D2L's wall time, with the times.

    ``d2l`` gives each document's (cached) D2L adapter, whose shape the CD LoRA copies. Each
    document is distilled once, up to the largest step count; snapshots give the other points.
    """
    d2l_s = []
    for sample in facts:
        start = time.perf_counter()
        internalize(backbone, hypernet, sample.document)
        d2l_s.append(time.perf_counter() - start)
    d2l_mean = sum(d2l_s) / len(d2l_s)
    probe = facts[0]
    _, info = context_distill(backbone, d2l(probe), probe.document, probe.qas, steps=2, lr=config.cd_lr,
                              answer_tokens=config.max_new_tokens)
    equal = max(1, int((d2l_mean - info["teacher_s"]) / info["seconds_per_step"]))
    points = {f"cd_{n}_steps": n for n in sorted(int(n) for n in config.cd_steps.split(",") if n)}
    points["cd_equal_time"] = equal
    runs = {}
    for sample in tqdm(facts, desc="context distillation", unit="doc"):
        _, info = context_distill(backbone, d2l(sample), sample.document, sample.qas, steps=max(points.values()),
                                  lr=config.cd_lr, answer_tokens=config.max_new_tokens, snapshots=set(points.values()))
        runs[sample.document] = info
    for name, steps in points.items():
        summary = summarize(answer_samples(backbone, facts, name, hypernet,
                                           adapter_for=lambda s, steps=steps: runs[s.document]["snapshots"][steps],
                                           max_new_tokens=config.max_new_tokens))
        seconds = [runs[s.document]["seconds_at"][steps] for s in facts]
        results.facts[name] = {"exact": summary["all_exact"], "f1": summary["all_f1"]}
        results.cd[name] = {"steps": steps, "seconds_per_document": sum(seconds) / len(seconds)}
    results.seconds["cd"] = round(sum(runs[s.document]["seconds_at"][max(points.values())] for s in facts), 1)
    results.cd["doc2lora_seconds_per_document"] = d2l_mean
    results.cd["lr"] = config.cd_lr


def _write(results: _Results, out: Path, lengths: list[int]) -> dict:
    """Write results.json and the figures; returns NIAH accuracy by method (and haystack) and length."""
    depths = sorted({r["depth"] for r in results.niah})
    grids = {}
    names = lambda r: r["method"] if r.get("haystack", "filler") == "filler" else f"{r['method']} ({r['haystack']})"  # noqa: E731
    for name in dict.fromkeys(names(r) for r in results.niah):
        cell = {(r["length"], r["depth"]): float(r["exact"]) for r in results.niah if names(r) == name}
        grids[name] = [[cell[(n, d)] for n in lengths] for d in depths]
    summary = {
        name: {str(n): sum(g[i][j] for i in range(len(depths))) / len(depths) for j, n in enumerate(lengths)}
        for name, g in grids.items()
    }
    (out / "results.json").write_text(json.dumps({**results.__dict__, "niah_by_length": summary}, indent=2))
    if grids:
        plots.heatmaps(grids, lengths, depths, out / "niah.png", "Needle in a haystack: exact-match accuracy")
    if results.facts:
        plots.bars(results.facts, out / "facts.png", "Held-out fact QA", "score")
    if results.long_documents:
        records = results.long_documents["records"]
        depths = sorted({r["depth"] for r in records})
        lengths_long = results.long_documents["lengths"]
        for kind, title, placed in (("fact_prose", "Facts planted in real prose", "fact depth"),
                                    ("needle_prose", "Needle in real prose", "needle depth")):
            if any(r["kind"] == kind for r in records):
                plots.heatmaps(accuracy_grids(records, lengths_long, depths, kind), lengths_long, depths,
                               out / f"long_{kind}.png", f"{title}: exact-match accuracy by length and depth",
                               depth_label=placed)
    if results.real_documents:
        scores = {m: {"contained": r["all_exact"], "f1": r["all_f1"]} for m, r in results.real_documents.items()}
        title = {"software": "Real software documents", "handwritten": "Hand-written fact documents"}[results.config["real_set"]]
        plots.bars(scores, out / "real_documents.png", f"{title} (never trained on)", "score")
    return summary
