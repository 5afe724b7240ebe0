"""Backbone-written questions (kind (c)): the filters, the pool file, and training's draw of them."""

import pytest

from lora_memory.data.realtext import LabelledQA
from lora_memory.data.synthetic import DocSample
from lora_memory.training import written_questions
from lora_memory.data.synthetic import samples_to_json
from lora_memory.training.written_questions import KIND, cached_pool, pool_from_json, usable

DOC = "Brunel Tower is a lighthouse in Lisbon. It was built in 1881 by Marta Sousa. It stands 42 metres tall."


def _source() -> DocSample:
    return DocSample(DOC, (LabelledQA("When ___?", "1881", "cloze", lead="It was built in"),
                           LabelledQA("Who built Brunel Tower?", "Marta Sousa", "wh", lead="in 1881 by"),
                           LabelledQA("How tall ___?", "42 metres", "cloze", lead="It stands")), "wiki")


@pytest.mark.parametrize("question, answer, ok", [
    ("In which year was the lighthouse finished?", "1881", True),
    ("Who designed the tower in Lisbon?", "Marta Sousa", True),
    ("Was it built in 1881?", "1881", False),  # gives the answer away
    ("The tower was built in 1881.", "1881", False),  # not a question
    ("What is the answer to this question?", "1881", False),  # talks about the task
    ("Why? And when?", "1881", False),  # two questions
    ("When?", "1881", False),  # too short to be about anything
])
def test_usable_questions_ask_one_thing_without_giving_the_answer(question, answer, ok):
    assert usable(question, answer) is ok


def test_written_questions_keep_span_and_lead_and_only_what_the_document_answers(backbone, monkeypatch):
    replies = iter(['"Which year saw the lighthouse finished?"', "Marta Sousa built it.", "How high is the tower?"])
    monkeypatch.setattr(written_questions, "generate", lambda bb, prompts, **kw: [next(replies) for _ in prompts])
    monkeypatch.setattr(written_questions, "answerable_in_context", lambda bb, samples: list(samples))
    # the backbone "knows" the height without the document: that question must go
    monkeypatch.setattr(written_questions, "answer_samples",
                        lambda bb, samples, method: [{"exact": qa.answer == "42 metres"} for s in samples for qa in s.qas])
    kept = written_questions.write_questions(backbone, [_source()], progress=False)
    assert len(kept) == 1 and kept[0].document == DOC and kept[0].kind == KIND
    (qa,) = kept[0].qas
    assert (qa.question, qa.answer, qa.kind, qa.lead) == ("Which year saw the lighthouse finished?", "1881", KIND,
                                                          "It was built in")


def test_prompts_carry_the_sentence_and_answer_after_the_examples(backbone):
    prompt = backbone.tokenizer.decode(written_questions.question_prompt(backbone, "It was built in 1881.", "1881"))
    assert prompt.rindex("It was built in 1881.") > prompt.index(written_questions.SHOTS[-1][2])


def test_the_pool_is_written_once_and_read_back_with_its_leads(tmp_path):
    path, calls = tmp_path / "written-train.json", []
    pool = [DocSample(DOC, (LabelledQA("Which year saw it finished?", "1881", KIND, lead="It was built in"),), KIND)]
    assert cached_pool(path, lambda: calls.append(1) or pool) == pool
    assert cached_pool(path, lambda: calls.append(1) or []) == pool and calls == [1]  # not rebuilt
    assert pool_from_json(samples_to_json(pool))[0].qas[0].lead == "It was built in"
    with pytest.raises(ValueError, match="no written question"):
        cached_pool(tmp_path / "empty.json", list)
    assert not (tmp_path / "empty.json").exists()


def test_training_draws_written_documents_from_the_run_pool(backbone, tmp_path):
    from lora_memory.training.doc2lora import Doc2LoRATrainConfig, _stream, reply_target

    pool = [DocSample(f"{DOC} Number {i}.", (LabelledQA(f"Question {i} about the tower?", "1881", KIND,
                                                        lead="It was built in"),), KIND) for i in range(3)]
    (tmp_path / "written-train.json").write_text(samples_to_json(pool))
    config = Doc2LoRATrainConfig(run_dir=str(tmp_path), written_weight=1.0, needle_weight=1.0, facts_weight=0.0,
                                 doc_tokens_min=32, doc_tokens_max=64)
    drawn = [s for s, _ in zip(_stream(backbone, config, 0, "train"), range(40))]
    written = [s for s in drawn if s.kind == KIND]
    assert 10 < len(written) < 30 and {s.kind for s in drawn} == {KIND, "needle"}
    assert {s.document for s in written} <= {s.document for s in pool}
    assert reply_target(written[0].qas[0], lead=True) == "It was built in 1881"


def test_the_heldout_set_takes_written_questions_from_the_heldout_pool_without_repeats(backbone, tmp_path):
    from lora_memory.training.doc2lora import Doc2LoRATrainConfig, heldout_samples

    pool = [DocSample(f"{DOC} Number {i}.", (LabelledQA(f"Question {i}?", "1881", KIND),), KIND) for i in range(30)]
    (tmp_path / "written-heldout.json").write_text(samples_to_json(pool))
    only = Doc2LoRATrainConfig(run_dir=str(tmp_path), written_weight=1.0, needle_weight=0.0, facts_weight=0.0,
                               eval_samples=40)
    assert [s.document for s in heldout_samples(backbone, only)] == [s.document for s in pool[:20]]
    mixed = Doc2LoRATrainConfig(run_dir=str(tmp_path), written_weight=1.0, needle_weight=1.0, facts_weight=0.0,
                                eval_samples=8, haystack_min=32, haystack_max=64)
    kinds = [s.kind for s in heldout_samples(backbone, mixed)]
    assert kinds == ["needle"] * 8 + [KIND] * 4
