"""The long-document benchmark: every method answers the same placed questions, grids by length x depth."""

import math

import pytest
import torch

from lora_memory.data.realtext import PlacedQA
from lora_memory.data.synthetic import DocSample
from lora_memory.evaluation import plots
from lora_memory.evaluation.long_documents import (
    LONG_METHODS,
    accuracy_grids,
    long_document_records,
    summarize_long,
)

NAMES = ["Ada", "Bo", "Cy", "Dee"]


class _NameEncoder:
    """Routes by the names a text shares with the question (instant, deterministic)."""

    name = "names"

    def __call__(self, texts):
        return torch.tensor([[float(n in text) for n in NAMES] for text in texts]) + 1e-3


def _sample() -> DocSample:
    text = " ".join(f"{n} keeps {k} goats at the farm by the long river in the north." for n, k in
                    zip(NAMES, (3, 5, 7, 9)))
    qas = (PlacedQA("How many goats does Ada keep?", "3", "fact_prose", 0.0),
           PlacedQA("How many goats does Dee keep?", "9", "fact_prose", 1.0),
           PlacedQA("How many goats does Cy keep?", "7", "needle_prose", 1.0))
    return DocSample(text, qas, "prose_facts")


def test_every_method_answers_every_placed_question_and_rag_reads_the_routed_segment(lively, lively_net):
    records = long_document_records(lively, lively_net, [(64, _sample())], LONG_METHODS, segment_tokens=48,
                                    max_new_tokens=2, encoder=_NameEncoder())
    assert [r["method"] for r in records] == [m for m in LONG_METHODS for _ in range(3)]
    assert all(isinstance(r["prediction"], str) and r["length"] == 64 for r in records)
    routed = [r for r in records if r["method"] in ("memory", "rag")]
    assert all(r["routed_holds_answer"] for r in routed)  # the name encoder finds each fact's segment
    assert [r["depth"] for r in records[:3]] == [0.0, 1.0, 1.0]
    assert records[0]["segments"] == 4 and records[0]["stored_bytes"] > 0
    summary = summarize_long(records)
    assert set(summary) == set(LONG_METHODS) and summary["rag"]["routed_holds_answer"] == {"64": 1.0}
    assert "routed_holds_answer" not in summary["in_context"]


def test_grids_are_depth_by_length_with_gaps_where_nothing_was_asked(tmp_path):
    records = [{"method": "memory", "kind": "fact_prose", "length": n, "depth": d, "exact": e}
               for n, d, e in [(64, 0.0, True), (64, 0.0, False), (64, 1.0, True), (128, 1.0, False)]]
    grids = accuracy_grids(records, [64, 128], [0.0, 1.0], "fact_prose")
    assert grids["memory"][0][0] == 0.5 and math.isnan(grids["memory"][0][1])
    assert grids["memory"][1] == [1.0, 0.0]
    path = plots.heatmaps(grids, [64, 128], [0.0, 1.0], tmp_path / "g.png", "t")
    assert path.stat().st_size > 1000


def test_unknown_methods_are_refused(lively, lively_net):
    with pytest.raises(ValueError, match="long-document methods"):
        long_document_records(lively, lively_net, [(64, _sample())], ["memory", "oracle"])


def test_a_storage_budget_reaches_the_memory_the_benchmark_builds(lively, lively_net):
    def stored(budget):
        records = long_document_records(lively, lively_net, [(64, _sample())], ["memory"], segment_tokens=48,
                                        max_new_tokens=1, encoder=_NameEncoder(), storage_budget=budget)
        return records[0]["stored_bytes"]

    assert 0 < stored(0.05) < stored(None)
