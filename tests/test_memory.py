"""ParametricMemory on a tiny model: persistence, routing, batching, async, streaming, threads."""

import asyncio
import hashlib
import os
import threading
from dataclasses import replace

import pytest
import torch

from lora_memory import (
    AdapterFormatError,
    Backbone,
    BaseModelMismatchError,
    DocumentError,
    DocumentNotFoundError,
    InvalidIdError,
    ParametricMemory,
    QuestionError,
    Router,
    StoreError,
    TaskAdapter,
    combine_adapters,
    generate,
)
from lora_memory.adapter_io import stored_nbytes
from lora_memory.hypernets import fresh
from lora_memory.loading import shared_backbone
from lora_memory.store import ADAPTER_DIR, STORE_FILE
from lora_memory.testing import lively_text2lora
from tests.conftest import make_tiny_backbone

NAMES = [
    "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo",
    "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor",
]  # fmt: skip
DOCS = [f"Project {name} keeps the code {37 * i + 11}. The sky is blue." for i, name in enumerate(NAMES)]


def question(name: str) -> str:
    return f"What is the code of project {name}?"


class HashEncoder:
    """Bag of words hashed into buckets: deterministic, instant, and enough to route by name."""

    name = "hash-bow"

    def __call__(self, texts):
        out = torch.zeros(len(texts), 4096)
        for i, text in enumerate(texts):
            for word in text.lower().replace("?", " ").replace(".", " ").split():
                out[i, int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest()) % 4096] += 1
        return out


class NoEncoder:
    name = "forbidden"

    def __call__(self, texts):
        raise AssertionError("the router should not embed anything here")


@pytest.fixture(scope="module")
def net(lively_net):
    return lively_net


def make_memory(lively, net, path=None, **kw):
    kw.setdefault("encoder", HashEncoder())
    return ParametricMemory(path, backbone=lively, doc2lora=net, max_new_tokens=6, **kw)


@pytest.fixture(scope="module")
def full(lively, net, tmp_path_factory):
    """A memory of 22 documents, shared read-only by the tests below."""
    memory = make_memory(lively, net, tmp_path_factory.mktemp("full"))
    memory.add_documents(DOCS, ids=NAMES, metadatas=[{"i": i} for i in range(len(DOCS))], progress=False)
    yield memory
    memory.close()


def _files(path):
    return sorted(p.name for p in (path / ADAPTER_DIR).iterdir())


def test_persistence_across_close_and_reopen(lively, net, tmp_path):
    memory = make_memory(lively, net, tmp_path)
    memory.add_documents(DOCS[:3], ids=NAMES[:3], progress=False)
    adapters = {i: memory.adapter(i) for i in NAMES[:3]}
    answers = [memory.ask(question(n)) for n in NAMES[:3]]
    memory.close()
    with make_memory(lively, net, tmp_path) as reopened:
        assert reopened.ids() == NAMES[:3]
        for doc_id, adapter in adapters.items():
            again = reopened.adapter(doc_id)
            assert all(
                torch.equal(adapter.A[m], again.A[m]) and torch.equal(adapter.B[m], again.B[m]) for m in adapter.modules
            )
        assert [reopened.ask(question(n)) for n in NAMES[:3]] == answers
        assert reopened.get("bravo").text == DOCS[1]


def test_save_keeps_a_temporary_memory(lively, net, tmp_path):
    memory = make_memory(lively, net)  # temporary: deleted on close
    memory.add_documents(DOCS[:3], ids=NAMES[:3], metadatas=[{"i": i} for i in range(3)], progress=False)
    answers = [memory.ask(question(n)) for n in NAMES[:3]]
    assert memory.save(tmp_path / "saved") == str(tmp_path / "saved")
    with pytest.raises(StoreError, match="already holds a lora-memory store"):
        memory.save(tmp_path / "saved")
    memory.close()
    with make_memory(lively, net, tmp_path / "saved") as reopened:
        assert reopened.ids() == NAMES[:3] and reopened.get("bravo").metadata == {"i": 1}
        assert [reopened.ask(question(n)) for n in NAMES[:3]] == answers


def test_lower_precision_storage_is_smaller_and_answers_alike(lively, net):
    unbounded = {"storage_budget": None}  # the same rows at both precisions
    with make_memory(lively, net, precision="fp32", **unbounded) as whole, \
            make_memory(lively, net, precision="fp16", **unbounded) as half:
        for memory in (whole, half):
            memory.add(DOCS[0], id=NAMES[0])
        assert half.get(NAMES[0]).adapter_bytes * 2 == whole.get(NAMES[0]).adapter_bytes
        assert not torch.equal(half.adapter(NAMES[0]).A["down_proj"], whole.adapter(NAMES[0]).A["down_proj"])
        assert half.ask(question(NAMES[0])).answer == whole.ask(question(NAMES[0])).answer
    with pytest.raises(ValueError, match="precision"):
        make_memory(lively, net, precision="bf12")


def test_routing_picks_the_right_document_among_22(full):
    for name in NAMES:
        routed = full.route(question(name))
        assert [doc_id for doc_id, _ in routed] == [name]
    top3 = full.route(question("kilo"), k=3)
    assert (
        len(top3) == 3 and top3[0][0] == "kilo" and [s for _, s in top3] == sorted([s for _, s in top3], reverse=True)
    )
    assert [d.id for d in full.retrieve(question("lima"))] == ["lima"]
    assert full.retrieve(question("lima"))[0].metadata == {"i": NAMES.index("lima")}


def test_k_documents_concatenate_along_rank(full, lively):
    ids = [doc_id for doc_id, _ in full.route(question("oscar"), k=3)]
    combined = full.adapter(*ids)
    assert combined.rank() == sum(full.adapter(i).rank() for i in ids)
    answer = full.ask(question("oscar"), k=3)
    assert answer.document_ids == ids and len(answer.scores) == 3
    expected = generate(lively, [lively.chat_prompt(question("oscar"))], [combined], max_new_tokens=6)[0]
    assert answer.answer == expected


def test_answers_come_from_the_adapters(full, lively):
    answers = {full.ask(question(n)).answer for n in NAMES[:8]}
    base = generate(lively, [lively.chat_prompt(question(n)) for n in NAMES[:8]], max_new_tokens=6)
    assert len(answers) >= 3 and answers != set(base)


def test_ask_batch_equals_individual_asks(full):
    questions = [question(n) for n in NAMES[:6]]
    batched, single = full.ask_batch(questions), [full.ask(q) for q in questions]
    # padding a batch changes float sums in the last bits: confidences agree to rounding, the rest exactly
    assert [replace(a, confidence=0.0) for a in batched] == [replace(a, confidence=0.0) for a in single]
    assert [a.confidence for a in batched] == pytest.approx([a.confidence for a in single], abs=1e-4)
    assert full.ask_batch([]) == []


def test_async_and_streaming_give_the_same_text(full):
    q = question("papa")
    expected = full.ask(q)
    assert expected.answer  # a non-empty answer, so the comparison means something

    async def run():
        async_answer = await full.aask(q)
        pieces = [piece async for piece in full.astream(q)]
        return async_answer, "".join(pieces)

    async_answer, async_streamed = asyncio.run(run())
    assert async_answer == expected
    assert "".join(full.stream(q)) == expected.answer == async_streamed


def test_eight_threads_get_the_answers_they_get_alone(full):
    names = NAMES[:8]
    alone = {n: full.ask(question(n)).answer for n in names}
    got, errors = {}, []
    barrier = threading.Barrier(len(names))

    def work(name):
        try:
            barrier.wait()
            for _ in range(2):
                got.setdefault(name, []).append(full.ask(question(name)).answer)
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert got == {n: [alone[n]] * 2 for n in names}
    assert len(set(alone.values())) >= 3  # the documents' adapters differ, so cross-talk would show


def test_update_and_delete(lively, net, tmp_path):
    memory = make_memory(lively, net, tmp_path)
    memory.add(DOCS[0], id="a", metadata={"v": 1})
    memory.add(DOCS[1], id="b")
    before = memory.adapter("a")
    memory.update("a", DOCS[2])
    doc = memory.get("a")
    assert (doc.text, doc.metadata) == (DOCS[2], {"v": 1})
    assert not torch.equal(memory.adapter("a").B["down_proj"], before.B["down_proj"])
    assert len(_files(tmp_path)) == 2
    memory.update("a", DOCS[2], metadata={"v": 2})
    assert memory.get("a").metadata == {"v": 2}
    memory.delete("a")
    assert memory.ids() == ["b"] and "a" not in memory and len(memory) == 1 and len(_files(tmp_path)) == 1
    for call in (lambda: memory.delete("a"), lambda: memory.get("a"), lambda: memory.update("a", "text")):
        with pytest.raises(DocumentNotFoundError, match="'a'"):
            call()


@pytest.mark.parametrize("bad", ["", "a/b", "..", "x" * 201, "nul\x00"])
def test_bad_ids_raise_and_leave_the_store_unchanged(lively, net, tmp_path, bad):
    memory = make_memory(lively, net, tmp_path)
    memory.add(DOCS[0], id="kept")
    with pytest.raises(InvalidIdError):
        memory.add(DOCS[1], id=bad)
    with pytest.raises(InvalidIdError):
        memory.add_documents(DOCS[1:3], ids=["fine", bad], progress=False)
    assert memory.ids() == ["kept"] and len(_files(tmp_path)) == 1


@pytest.mark.parametrize("bad", ["", "   \n\t", None, b"bytes"])
def test_bad_documents_raise_and_leave_the_store_unchanged(lively, net, tmp_path, bad):
    memory = make_memory(lively, net, tmp_path)
    memory.add(DOCS[0], id="kept")
    with pytest.raises(DocumentError):
        memory.add(bad, id="new")
    with pytest.raises(DocumentError):
        memory.add_documents([DOCS[1], bad], progress=False)  # the good one is not written either
    with pytest.raises(DocumentError):
        memory.update("kept", bad)
    with pytest.raises(DocumentError):
        memory.add(DOCS[1], metadata={"not json": object()})
    assert memory.ids() == ["kept"] and memory.get("kept").text == DOCS[0] and len(_files(tmp_path)) == 1


def test_too_long_documents_are_refused(lively, net):
    with make_memory(lively, net, max_document_tokens=5) as memory, pytest.raises(DocumentError, match="limit of 5"):
        memory.add(DOCS[0])


def test_questions_are_validated(full):
    for bad in ("", "  ", None):
        with pytest.raises(QuestionError):
            full.ask(bad)
    with pytest.raises(QuestionError):
        full.ask_batch("one string, not a list")


def test_single_and_empty_memories_need_no_encoder(lively, net):
    with make_memory(lively, net, encoder=NoEncoder()) as memory:
        empty = memory.ask("Anything there?")
        assert (
            empty.document_ids == []
            and empty.answer == generate(lively, [lively.chat_prompt("Anything there?")], max_new_tokens=6)[0]
        )
        doc_id = memory.add(DOCS[0])
        assert memory.route("What is the code?") == [(doc_id, 1.0)]
        assert memory.ask("What is the code?").document_ids == [doc_id]


def test_corrupt_adapter_blob_names_the_file(lively, net, tmp_path):
    with make_memory(lively, net, tmp_path) as memory:
        memory.add(DOCS[0], id="d")
    (blob,) = (tmp_path / ADAPTER_DIR).iterdir()
    blob.write_bytes(blob.read_bytes()[:-16])
    with make_memory(lively, net, tmp_path) as memory, pytest.raises(AdapterFormatError, match=blob.name):
        memory.ask("What is the code?")


def test_a_file_that_is_not_a_store_raises_store_error(lively, net, tmp_path):
    (tmp_path / STORE_FILE).write_bytes(b"\x00garbage" * 64)
    with pytest.raises(StoreError, match=STORE_FILE):
        make_memory(lively, net, tmp_path)


def test_a_store_refuses_another_base_model(lively, net, tmp_path):
    with make_memory(lively, net, tmp_path) as memory:
        memory.add(DOCS[0])
    other = make_tiny_backbone(name="another-model")
    with (
        ParametricMemory(tmp_path, backbone=other, doc2lora=fresh("doc2lora", other)) as memory,
        pytest.raises(BaseModelMismatchError, match="another-model"),
    ):
        memory.ask("What is the code?")


def test_memory_report_is_consistent(full, lively):
    report = full.memory_report()
    docs = [full.get(i) for i in full.ids()]
    config = lively.model.config
    head_dim = config.hidden_size // config.num_attention_heads
    assert report["documents"] == len(docs) == len(NAMES)
    assert report["tokens"] == sum(d.tokens for d in docs) == sum(len(lively.tokenize(t)) for t in DOCS)
    stored = sum(stored_nbytes(full.adapter(i), full.precision) for i in NAMES)
    assert report["adapter_bytes"] == sum(d.adapter_bytes for d in docs) == stored
    kv_per_token = 2 * config.num_hidden_layers * 2 * config.num_key_value_heads * head_dim  # K and V, fp16
    assert report["kv_cache_bytes_fp16"] == kv_per_token * report["tokens"]
    assert report["ratio"] == pytest.approx(report["kv_cache_bytes_fp16"] / report["adapter_bytes"])


def test_temporary_store_is_deleted_on_close(lively, net):
    memory = make_memory(lively, net)
    memory.add(DOCS[0])
    path = memory.path
    memory.close()
    memory.close()
    assert not os.path.exists(path)


def test_lazy_models_are_loaded_once_per_process(monkeypatch):
    loads = []
    monkeypatch.setattr(Backbone, "load", lambda *args, **kw: loads.append(args) or make_tiny_backbone())
    first = ParametricMemory(model="tiny-lazy", encoder=HashEncoder())
    second = ParametricMemory(model="tiny-lazy", encoder=HashEncoder())
    assert loads == []  # constructing loads nothing
    first.add("The grass is green.")
    assert first.backbone is second.backbone is shared_backbone("tiny-lazy") and loads == [("tiny-lazy",)]
    first.close()
    second.close()


def test_minilm_router_on_short_texts(backbone):
    router = Router.default(backbone)
    docs = router.embed(["The cat sat on the mat.", "Quarterly revenue rose by ten percent.", "Paris is in France."])
    assert docs.shape == (3, 384) and torch.allclose(docs.norm(dim=-1), torch.ones(3))
    best, *_ = router.top_k(router.embed(["How much did revenue grow?"])[0], docs, k=3)
    assert best[0] == 1


def test_a_failed_stream_raises_instead_of_hanging(full):
    with pytest.raises(DocumentError, match="window"):
        "".join(full.stream("word " * 600))


def test_ask_with_a_task_adds_its_adapter_to_the_documents(full, lively):
    net = lively_text2lora(lively)
    task = TaskAdapter("Answer in one word.", backbone=lively, text2lora=net)
    questions = [question(n) for n in NAMES[:3]]
    routes = [full.route(q) for q in questions]
    both = [combine_adapters([task.adapter, full.adapter(*(d for d, _ in r))]) for r in routes]
    expected = generate(lively, [lively.chat_prompt(q) for q in questions], both, max_new_tokens=6)
    assert [a.answer for a in full.ask_batch(questions, task=task)] == expected
    assert full.ask(questions[0], task=task).answer == expected[0]
    assert expected != [full.ask(q).answer for q in questions]  # the task's adapter matters
    with pytest.raises(QuestionError, match="TaskAdapter"):
        full.ask(questions[0], task="Answer in one word.")
