"""Documents as segments: one id, several adapters, routed segment by segment, priced against the KV cache."""

import sqlite3

import pytest
import torch

from lora_memory import DocumentNotFoundError, ParametricMemory, Router
from lora_memory.adapter_io import stored_nbytes
from lora_memory.hypernets.doc2lora import internalize_segments
from lora_memory.segments import BUDGET_FLOOR_TOKENS, STORAGE_BUDGET, row_budget, row_bytes, split_segments
from lora_memory.store import ADAPTER_DIR, STORE_FILE, Store
from lora_memory.testing import random_adapter
from tests.test_memory import DOCS, NAMES, HashEncoder, question
from tests.test_store_safety import _edit, _same, _v1_store

LONG = " ".join(DOCS[:6])  # six projects' codes in one document


def make(lively, lively_net, path=None, **kw):
    kw.setdefault("segment_tokens", 40)  # one project's two sentences per segment (31-36 tiny-tokenizer tokens)
    return ParametricMemory(path, backbone=lively, doc2lora=lively_net, encoder=HashEncoder(), max_new_tokens=4, **kw)


def _blobs(path):
    return sorted(p.name for p in (path / ADAPTER_DIR).iterdir())


def test_a_document_is_stored_as_segments_under_one_id(tmp_path, lively, lively_net):
    with make(lively, lively_net, tmp_path) as memory:
        memory.add(LONG, id="projects", metadata={"kind": "codes"})
        memory.add(DOCS[7], id="single")
        segments = memory.segments("projects")
        assert len(segments) > 2 and [s.position for s in segments] == list(range(len(segments)))
        assert memory.ids() == ["projects", "single"] and len(memory) == 2
        doc = memory.get("projects")
        assert doc.text == LONG and doc.segments == len(segments) and doc.metadata == {"kind": "codes"}
        assert doc.adapter_bytes == sum(s.adapter_bytes for s in segments)
        assert doc.tokens == len(lively.tokenize(LONG))
        assert " ".join(s.text for s in segments).split() == LONG.split()  # nothing of the text is dropped
        assert len(_blobs(tmp_path)) == len(segments) + 1
        whole = memory.adapter("projects")  # every segment, concatenated
        assert whole.rank() == sum(memory.segment_adapter(("projects", s.position)).rank() for s in segments)
        with pytest.raises(DocumentNotFoundError, match="no segment 99"):
            memory.segment_adapter(("projects", 99))

        memory.update("projects", DOCS[10])  # the whole document is replaced: old segments go
        assert memory.get("projects").text == DOCS[10] and len(memory.segments("projects")) == 1
        assert len(_blobs(tmp_path)) == 2
        memory.delete("projects")
        assert memory.ids() == ["single"] and len(_blobs(tmp_path)) == 1
        with pytest.raises(DocumentNotFoundError):
            memory.segments("projects")


def test_a_question_routes_to_the_segment_that_holds_its_answer(lively, lively_net):
    with make(lively, lively_net) as memory:
        memory.add(LONG, id="projects")
        memory.add(DOCS[8], id="other")
        texts = {(s.document_id, s.position): s.text for s in memory.segments("projects")}
        for name in NAMES[:6]:
            answer = memory.ask(question(name))
            assert answer.document_ids == ["projects"] and len(answer.segments) == 1
            assert f"Project {name} " in texts[answer.segments[0]]
            assert answer.scores == answer.segment_scores[:1]
            # the answer runs with that segment's adapter alone
            assert memory.route_segments(question(name)) == list(zip(answer.segments, answer.segment_scores))
        two = memory.ask(question(NAMES[2]), k=3)
        assert len(two.segments) == 3 and len(set(two.document_ids)) == len(two.document_ids)
        by_document = memory.route(question(NAMES[2]), k=2)
        assert [d for d, _ in by_document] == ["projects", "other"]  # each document once, by its best segment


def test_every_segment_stays_within_the_storage_budget(lively, lively_net):
    longer = f"{LONG} {LONG}"  # past BUDGET_FLOOR_TOKENS: every segment is priced on its own tokens
    for precision in ("fp32", "fp16", "int8"):
        for budget in (0.25, 0.02):  # the tiny network's rows fit 1/4 of the tiny model's KV cache: 0.02 binds
            with make(lively, lively_net, precision=precision, storage_budget=budget) as memory:
                memory.add(longer, id="projects")
                memory.add(DOCS[0], id="short")
                assert memory.get("projects").tokens >= BUDGET_FLOOR_TOKENS > memory.get("short").tokens
                for segment in memory.segments("projects"):
                    rank = memory.segment_adapter(("projects", segment.position)).rank()
                    assert segment.adapter_bytes <= budget * lively.kv_cache_bytes(segment.tokens) or rank == 1
                # a short document is priced as a floor-length one, not as its own few tokens
                short = memory.get("short")
                assert short.adapter_bytes <= budget * lively.kv_cache_bytes(BUDGET_FLOOR_TOKENS)
    with make(lively, lively_net, storage_budget=None) as unbounded, make(lively, lively_net, storage_budget=0.02) as bounded:
        unbounded.add(LONG, id="projects")
        bounded.add(LONG, id="projects")
        assert bounded.get("projects").adapter_bytes < unbounded.get("projects").adapter_bytes


def test_row_budget_prices_a_row_against_the_kv_cache(lively):
    per_row = row_bytes(lively, 2, "down_proj", "int8")
    adapter = random_adapter(lively, layers=(0, 1), rank=3)
    assert stored_nbytes(adapter, "int8") == 3 * per_row
    d_in, d_out = lively.module_shape("down_proj")
    assert row_bytes(lively, 2, "down_proj", "fp32") == 2 * (d_in + d_out) * 4
    tokens = 64
    rows = row_budget(lively, tokens, per_row)
    assert rows * per_row <= 0.25 * lively.kv_cache_bytes(tokens) < (rows + 1) * per_row
    assert row_budget(lively, tokens, per_row, None) is None and row_budget(lively, 1, 10**9) == 1
    # a segment of a short document gets its share of a floor-length document's budget
    quarter = BUDGET_FLOOR_TOKENS // 4
    assert row_budget(lively, tokens, per_row, document_tokens=quarter) == row_budget(lively, 4 * tokens, per_row)
    assert row_budget(lively, tokens, per_row, document_tokens=BUDGET_FLOOR_TOKENS) == rows


def test_the_memory_stays_within_a_quarter_of_the_kv_cache_by_default(lively, lively_net):
    with make(lively, lively_net) as memory:
        assert memory.storage_budget == STORAGE_BUDGET == 0.25


def test_internalize_segments_batches_like_one_at_a_time_and_cuts_rows(lively, lively_net):
    texts = split_segments(lively, LONG, 40)
    batched = internalize_segments(lively, lively_net, texts, batch_size=4)
    for text, adapter in zip(texts, batched, strict=True):
        (alone,) = internalize_segments(lively, lively_net, [text])
        assert adapter.rank() == alone.rank()
        assert torch.allclose(adapter.A["down_proj"], alone.A["down_proj"], atol=1e-5)
        assert torch.allclose(adapter.B["down_proj"], alone.B["down_proj"], atol=1e-5)
    cut = internalize_segments(lively, lively_net, texts, batch_size=4, max_rows=lambda tokens: 2)
    for full, small in zip(batched, cut, strict=True):
        assert small.rank() == min(2, full.rank())
        assert torch.equal(small.A["down_proj"], full.A["down_proj"][:, : small.rank()])  # the network's order
        assert torch.equal(small.B["down_proj"], full.B["down_proj"][:, :, : small.rank()])


def test_first_rows_drops_zero_rows_and_keeps_order(lively):
    adapter = random_adapter(lively, rank=4)
    a, b = adapter.A["down_proj"].clone(), adapter.B["down_proj"].clone()
    a[:, 1], b[:, :, 1] = 0, 0
    zeroed = type(adapter)({"down_proj": a}, {"down_proj": b}, adapter.layers, adapter.scale, adapter.base_model)
    kept = zeroed.first_rows(2)
    assert torch.equal(kept.A["down_proj"], a[:, [0, 2]]) and torch.equal(kept.B["down_proj"], b[:, :, [0, 2]])
    assert zeroed.first_rows(10).rank() == 3
    with pytest.raises(ValueError):
        zeroed.first_rows(0)


def test_top_k_with_groups_returns_each_group_once():
    rows = torch.tensor([[1.0, 0, 0], [0.9, 0.436, 0], [0.8, 0, 0.6], [0, 1.0, 0]])  # cosines 1, .9, .8, 0
    asked = torch.tensor([1.0, 0, 0])
    assert [i for i, _ in Router.top_k(asked, rows, 3)] == [0, 1, 2]
    grouped = Router.top_k(asked, rows, 3, groups=torch.tensor([0, 0, 1, 2]))  # rows 0 and 1: one document
    assert [i for i, _ in grouped] == [0, 2, 3] and grouped[1][1] == pytest.approx(0.8)


def test_the_routing_index_is_reused_until_the_store_changes(tmp_path, lively, lively_net):
    with make(lively, lively_net, tmp_path) as memory:
        memory.add_documents(DOCS[:3], ids=NAMES[:3], progress=False)
        memory.ask(question(NAMES[0]))
        reads = []
        original = memory._store.embeddings
        memory._store.embeddings = lambda *a: reads.append(1) or original(*a)
        memory.ask(question(NAMES[1]))
        assert reads == []  # nothing read from the store for the second question
        other = make(lively, lively_net, tmp_path)  # another connection writes
        other.add(DOCS[5], id=NAMES[5])
        other.close()
        assert memory.ask(question(NAMES[5])).document_ids == [NAMES[5]] and reads == [1]


def test_a_version_2_store_becomes_one_segment_per_document(tmp_path, lively, lively_net, backbone):
    adapters = _v1_store(tmp_path, backbone, ["a", "b"])
    _edit(tmp_path, "UPDATE lora_memory SET value = '2' WHERE key = 'version'")
    _edit(tmp_path, "CREATE TABLE garbage (name TEXT PRIMARY KEY)")
    _edit(tmp_path, "UPDATE documents SET embedding = ?, embedding_model = 'm' WHERE id = 'b'", (bytes(16),))
    before = _blobs(tmp_path)
    ro = Store(tmp_path, read_only=True)  # read as it is, nothing written
    assert ro.ids() == ["a", "b"] and _same(ro.adapter("a"), adapters["a"]) and ro.segment_count() == 2
    assert [s.text for s in ro.segments("b")] == ["text 1"]
    snap = ro.snapshot(tmp_path / "copy")  # a copy of an old store is written at the current version
    ro.close()
    with sqlite3.connect(tmp_path / STORE_FILE) as conn:
        assert conn.execute("SELECT value FROM lora_memory WHERE key = 'version'").fetchone() == ("2",)
    for directory in (tmp_path, snap):
        store = Store(directory)
        assert store.ids() == ["a", "b"] and _blobs(directory) == before
        assert _same(store.adapter("b", 0), adapters["b"]) and store.get("b").segments == 1
        keys, matrix = store.embeddings("m")
        assert keys == [("b", 0)] and torch.equal(matrix, torch.zeros(1, 4))  # the embedding moved with it
        store.delete("a")
        assert _blobs(directory) == [n for n in before if n in {r[0] for r in store._query(
            "SELECT adapter_file FROM segments")}]
        store.close()
        with sqlite3.connect(directory / STORE_FILE) as conn:
            assert conn.execute("SELECT value FROM lora_memory WHERE key = 'version'").fetchone() == ("3",)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(documents)")}
            assert "adapter_file" not in columns
