"""Confidence on every answer, the text fallback, and chat prompts (system turn, recent turns)."""

import math

import pytest
import torch

from lora_memory import ParametricMemory, generate
from lora_memory.chat import Turn, recent_turns, turn_tokens, with_context
from lora_memory.confidence import NO_ANSWER, answer_likelihoods
from lora_memory.errors import ConversationError
from lora_memory.generation import generate_ids, in_context_question
from tests.conftest import random_adapter
from tests.test_memory import DOCS, NAMES, HashEncoder, question


@pytest.fixture(scope="module")
def memory(lively, lively_net):
    memory = ParametricMemory(backbone=lively, doc2lora=lively_net, max_new_tokens=6, encoder=HashEncoder())
    memory.add_documents(DOCS[:6], ids=NAMES[:6], progress=False)
    yield memory
    memory.close()


def _mean_logprob(backbone, prompt, answer, adapter):
    """The answer's mean log-probability, one sequence, full logits: the definition, computed plainly."""
    from lora_memory.adapter import AdapterBatch

    ids = torch.tensor([prompt + answer])
    logits = backbone.forward_logits(ids, adapters=AdapterBatch.stack([adapter]) if adapter else None)
    logprobs = torch.log_softmax(logits[0].float(), dim=-1)
    return sum(logprobs[len(prompt) - 1 + j, t].item() for j, t in enumerate(answer)) / len(answer)


def test_support_is_the_log_probability_gain_batched_as_alone(lively):
    prompts = [lively.chat_prompt(q) for q in ("What is the code?", "Where is Ada?", "Is the sky blue?")]
    adapters = [random_adapter(lively, seed=s, magnitude=0.3) for s in range(3)]
    answers = generate_ids(lively, prompts, adapters, max_new_tokens=5)
    batched = answer_likelihoods(lively, prompts, answers, adapters)
    eos = lively.tokenizer.eos_token_id
    for p, a, ad, lk in zip(prompts, answers, adapters, batched, strict=True):
        content = a[:-1] if a[-1] == eos else a
        assert lk.with_adapters == pytest.approx(_mean_logprob(lively, p, content, ad), abs=1e-4)
        assert lk.without_adapters == pytest.approx(_mean_logprob(lively, p, content, None), abs=1e-4)
        assert lk.support == pytest.approx(lk.with_adapters - lk.without_adapters)
        assert answer_likelihoods(lively, [p], [a], [ad])[0].support == pytest.approx(lk.support, abs=1e-4)
    # greedy decoding with the adapter picks what the adapter makes likely: support is positive on average
    assert sum(lk.support for lk in batched) > 0


def test_no_adapter_or_no_answer_scores_zero(lively):
    prompt = lively.chat_prompt("What is the code?")
    adapter = random_adapter(lively)
    eos = lively.tokenizer.eos_token_id
    assert answer_likelihoods(lively, [prompt, prompt], [[5, 6], [eos]], [None, adapter]) == [NO_ANSWER, NO_ANSWER]
    with pytest.raises(ValueError, match="2 prompts"):
        answer_likelihoods(lively, [prompt, prompt], [[5]], [None])


def test_every_answer_carries_its_confidence_and_prompt_size(memory, lively):
    q = question("charlie")
    answer = memory.ask(q)
    prompt = lively.chat_prompt(q)
    reply = generate_ids(lively, [prompt], [memory.adapter(*answer.document_ids)], max_new_tokens=6)
    expected = answer_likelihoods(lively, [prompt], reply, [memory.adapter(*answer.document_ids)])[0].support
    assert answer.confidence == pytest.approx(expected, abs=1e-4) and answer.confidence != 0
    assert answer.source == "adapters" and answer.prompt_tokens == len(prompt)


def test_text_fallback_answers_below_the_threshold_from_the_routed_text(memory, lively):
    questions = [question(n) for n in NAMES[:6]]
    adapters_only = memory.ask_batch(questions)
    try:
        memory.text_fallback = math.inf  # every answer falls back: retrieval-augmented only
        from_text = memory.ask_batch(questions)
        threshold = memory.text_fallback = sorted(a.confidence for a in adapters_only)[3]  # the 3 least confident
        hybrid = memory.ask_batch(questions)
        memory.text_fallback = -math.inf
        assert memory.ask_batch(questions) == adapters_only
    finally:
        memory.text_fallback = None
    for q, a, t in zip(questions, adapters_only, from_text, strict=True):
        doc = memory.get(a.document_ids[0]).text
        prompt = lively.chat_prompt(in_context_question(doc, q))
        assert t.source == "text" and t.answer == generate(lively, [prompt], max_new_tokens=6)[0]
        assert t.prompt_tokens == len(prompt) > a.prompt_tokens
        assert (t.confidence, t.document_ids) == (a.confidence, a.document_ids)  # the adapters' score, kept
    assert [h.source for h in hybrid] == ["text" if a.confidence < threshold else "adapters" for a in adapters_only]
    assert [h.answer for h in hybrid] == [
        (t if h.source == "text" else a).answer for h, a, t in zip(hybrid, adapters_only, from_text, strict=True)
    ]


def test_fallback_context_is_cut_to_fit(lively):
    text = " ".join(["The sky is blue."] * 50)
    turn = with_context(lively, text, "What colour?", 20)
    assert turn.endswith("What colour?") and len(lively.tokenize(turn)) < len(lively.tokenize(text))


def test_system_turn_and_history_enter_the_prompt(memory, lively):
    q = question("bravo")
    history = [("user", "Hello there."), ("assistant", "Hello.")]
    answer = memory.ask(q, system="Be brief.", history=history)
    prompt = lively.chat_prompt(q, "Be brief.", history)
    adapter = memory.adapter(*answer.document_ids)
    assert answer.prompt_tokens == len(prompt) > len(lively.chat_prompt(q, "Be brief."))
    assert answer.answer == generate(lively, [prompt], [adapter], max_new_tokens=6)[0]
    assert "".join(memory.stream(q, system="Be brief.", history=history)) == answer.answer
    assert memory.ask_batch([q], system="Be brief.", histories=[history]) == [answer]


def test_recent_turns_keep_the_newest_whole_turns_that_fit(lively):
    turns = [Turn("user" if i % 2 == 0 else "assistant", f"Turn number {i} says something.") for i in range(10)]
    size = turn_tokens(lively, turns[0])
    assert recent_turns(lively, turns, None) == turns
    assert recent_turns(lively, turns, 0) == []
    kept = recent_turns(lively, turns, 3 * size + size // 2)
    assert kept == turns[-3:]
    with pytest.raises(ConversationError):
        recent_turns(lively, turns, -1)
    with pytest.raises(ConversationError, match="role"):
        Turn("system", "no")
    with pytest.raises(ConversationError):
        ParametricMemory(backbone=lively).ask("Hi?", history=[("robot", "beep")])


def test_the_fallback_reads_only_the_routed_segments_of_a_long_document(lively, lively_net):
    long = " ".join(DOCS[:6])  # six projects' codes, one document, several segments
    with ParametricMemory(backbone=lively, doc2lora=lively_net, encoder=HashEncoder(), max_new_tokens=6,
                          segment_tokens=40, top_k=1, text_fallback=math.inf) as memory:
        memory.add(long, id="projects")
        assert len(memory.segments("projects")) > 2
        q = question(NAMES[3])
        reply = memory.ask(q)
        texts = {(s.document_id, s.position): s.text for s in memory.segments("projects")}
        (key,) = reply.segments
        prompt = lively.chat_prompt(in_context_question(texts[key], q))
        assert reply.source == "text" and reply.prompt_tokens == len(prompt)
        assert reply.answer == generate(lively, [prompt], max_new_tokens=6)[0]
        assert reply.prompt_tokens < len(lively.chat_prompt(in_context_question(long, q)))


def test_with_a_task_confidence_is_the_documents_support_beyond_the_task(memory, lively):
    from lora_memory import TaskAdapter, combine_adapters
    from lora_memory.testing import lively_text2lora

    net = lively_text2lora(lively)
    task = TaskAdapter("Answer in one word.", backbone=lively, text2lora=net)
    q = question("delta")
    reply = memory.ask(q, task=task)
    both = combine_adapters([task.adapter, memory.segment_adapter(*reply.segments)])
    prompt = lively.chat_prompt(q)
    ids = generate_ids(lively, [prompt], [both], max_new_tokens=6)
    expected = answer_likelihoods(lively, [prompt], ids, [both], [task.adapter])[0].support
    assert reply.confidence == pytest.approx(expected, abs=1e-4)
    assert reply.confidence != pytest.approx(answer_likelihoods(lively, [prompt], ids, [both])[0].support, abs=1e-4)
    assert "".join(memory.stream(q, task=task)) == reply.answer
    try:
        memory.text_fallback = math.inf  # the fallback keeps the task's adapter, with the text in the prompt
        from_text = memory.ask(q, task=task)
    finally:
        memory.text_fallback = None
    doc = memory.get(reply.document_ids[0]).text
    text_prompt = lively.chat_prompt(in_context_question(doc, q))
    assert from_text.answer == generate(lively, [text_prompt], [task.adapter], max_new_tokens=6)[0]


def test_roc_auc_counts_right_over_wrong_pairs():
    from lora_memory.evaluation.confidence_eval import roc_auc

    assert roc_auc([3, 2, 1, 0], [True, True, False, False]) == 1.0
    assert roc_auc([0, 1, 2, 3], [True, True, False, False]) == 0.0
    assert roc_auc([1, 0, 1, 2], [True, True, False, False]) == pytest.approx(0.5 / 4)  # one tie, no win
    assert roc_auc([1, 2], [True, True]) is None


def test_confidence_records_agree_with_the_memory_and_the_hybrid_is_their_mix(lively, lively_net):
    from lora_memory.data.synthetic import QA, DocSample
    from lora_memory.evaluation.confidence_eval import memory_records, summarize_confidence

    samples = [DocSample(" ".join(DOCS[2 * i:2 * i + 2]), (QA(question(NAMES[2 * i]), str(37 * 2 * i + 11)),), "facts")
               for i in range(3)]
    records = memory_records(lively, lively_net, samples, passage_tokens=40, per_document=False, max_new_tokens=6,
                             encoder=HashEncoder())
    assert len(records) == 3 and all(r["text_tokens"] > r["adapters_tokens"] for r in records)
    with ParametricMemory(backbone=lively, doc2lora=lively_net, encoder=HashEncoder(), segment_tokens=40) as memory:
        memory.add_documents([s.document for s in samples], ids=["d0", "d1", "d2"], progress=False)
        asked = memory.ask_batch([s.qas[0].question for s in samples], max_new_tokens=6)
    assert [r["adapters"] for r in records] == [a.answer for a in asked]
    assert [r["confidence"] for r in records] == pytest.approx([a.confidence for a in asked], abs=1e-4)
    summary = summarize_confidence(records)
    first, last = summary["points"][0], summary["points"][-1]  # -inf: adapters only; +inf: text only
    assert first["fallback"] == 0 and first["hybrid_accuracy"] == summary["adapters_accuracy"]
    assert last["fallback"] == 1 and last["hybrid_accuracy"] == summary["text_accuracy"]
    assert first["prompt_tokens"] < last["prompt_tokens"]


def test_a_chat_request_is_the_last_user_message_the_systems_and_recent_turns(lively):
    from lora_memory.chat import chat_request

    messages = [("system", "Be brief."), ("user", "Hi."), ("tool", "{}"), ("assistant", "Hello."),
                ("system", "Use metres."), ("user", "How tall?"), ("assistant", "(thinking)")]
    request = chat_request(lively, messages, None)
    assert (request.question, request.system) == ("How tall?", "Be brief.\n\nUse metres.")
    assert request.history == [Turn("user", "Hi."), Turn("assistant", "Hello.")]
    assert chat_request(lively, messages, 0).history == []
    assert chat_request(lively, messages, turn_tokens(lively, Turn("assistant", "Hello."))).history == [
        Turn("assistant", "Hello.")]
    assert chat_request(lively, [("user", "Q?")], 100).arguments() == {"question": "Q?", "system": None, "history": []}
    with pytest.raises(ConversationError, match="user message"):
        chat_request(lively, [("system", "Be brief.")], None)


def test_quantile_thresholds_step_the_fallback_evenly():
    from lora_memory.evaluation.confidence_eval import quantile_thresholds, summarize_confidence

    confidences = [float(c) for c in range(10)]
    assert quantile_thresholds(confidences, (0.2, 0.5)) == [2.0, 5.0]
    records = [{"confidence": c, "adapters_exact": c > 4, "text_exact": True, "adapters_tokens": 10,
                "text_tokens": 30} for c in confidences]
    points = {p["threshold"]: p for p in summarize_confidence(records)["points"]}
    assert points[5.0]["fallback"] == 0.5 and points[5.0]["hybrid_accuracy"] == 1.0
    assert points[5.0]["prompt_tokens"] == 20
