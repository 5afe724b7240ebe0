"""Synthetic meta-training data: reproducible, answerable, open-vocabulary, with disjoint splits."""

import math
import random
import re
from itertools import islice

import pytest

from lora_memory.data.synthetic import (
    ENTITY_KINDS,
    FILLER_FACTS,
    NEEDLE_QUESTION,
    SPLITS,
    DocSample,
    fact_sample,
    multi_fact_sample,
    needle_sample,
    pseudo_word,
    sample_stream,
    split_items,
    word_split,
)


def count_words(text: str) -> int:
    return len(text.split())


def sentences(document: str) -> list[str]:
    return re.split(r"(?<=\.) ", document)


def pattern(template: str) -> re.Pattern[str]:
    """Any rendering of ``template``: literal text with each ``{slot}`` matching anything."""
    return re.compile(".+".join(re.escape(part) for part in re.split(r"\{\w+\}", template)))


ATTRIBUTES = [a for kind in ENTITY_KINDS.values() for a in kind.attributes.values()]
MIX = {"needle": 0.4, "facts": 0.6}


def stream(seed: int, split: str, n: int) -> list[DocSample]:
    return list(islice(sample_stream(seed, split, MIX, count_words), n))


def test_stream_is_deterministic_per_seed():
    assert stream(7, "train", 40) == stream(7, "train", 40)
    assert stream(7, "train", 40) != stream(8, "train", 40)
    assert {s.kind for s in stream(7, "train", 40)} == {"needle", "facts"}


@pytest.mark.parametrize("split", SPLITS)
def test_every_answer_appears_verbatim_in_its_document(split):
    for sample in stream(1, split, 150):
        assert sample.qas
        for qa in sample.qas:
            assert qa.answer and qa.answer in sample.document
            assert 1 <= len(qa.answer.split()) <= 4


def test_needle_depth_zero_is_first_sentence_and_depth_one_is_last():
    rng = random.Random(0)
    first = needle_sample(rng, "train", 120, count_words, depth=0.0)
    last = needle_sample(rng, "train", 120, count_words, depth=1.0)
    middle = needle_sample(rng, "train", 120, count_words, depth=0.5)
    needle = "The special magic number is {}."
    assert sentences(first.document)[0] == needle.format(first.qas[0].answer)
    assert sentences(last.document)[-1] == needle.format(last.qas[0].answer)
    parts = sentences(middle.document)
    at = parts.index(needle.format(middle.qas[0].answer))
    assert abs(at / (len(parts) - 1) - 0.5) < 0.05
    for sample in (first, last, middle):
        assert sample.kind == "needle"
        assert sample.qas[0].question == NEEDLE_QUESTION
        assert 1000 <= int(sample.qas[0].answer) <= 9999


@pytest.mark.parametrize("target", [1, 10, 64, 257, 4000])
def test_haystack_reaches_target_tightly_with_few_token_counts(target):
    calls = 0

    def counting(text: str) -> int:
        nonlocal calls
        calls += 1
        return count_words(text)

    sample = needle_sample(random.Random(target), "train", target, counting)
    length = count_words(sample.document)
    assert target <= length < target + 6  # the fewest sentences: one fewer would fall short
    assert calls <= 2 * math.log2(target + 2) + 6


def test_pseudo_words_of_the_two_splits_never_overlap():
    rng = random.Random(3)
    words = {split: {pseudo_word(rng, split) for _ in range(2000)} for split in SPLITS}
    assert not words["train"] & words["heldout"]
    assert len(words["train"]) > 1900 and len(words["heldout"]) > 1900
    assert all(word_split(w) == s for s in SPLITS for w in words[s])
    assert all(w.isalpha() and w[0].isupper() for w in words["train"])


def test_no_template_or_question_phrasing_is_shared_between_splits():
    for key in ("templates", "questions"):
        by_split = {split: [t for a in ATTRIBUTES for t in split_items(getattr(a, key), split)] for split in SPLITS}
        assert not set(by_split["train"]) & set(by_split["heldout"])
        for split in SPLITS:
            assert len(by_split[split]) == len(set(by_split[split])), f"duplicate {key} in {split}"
    for kind in ENTITY_KINDS.values():
        assert len(kind.attributes) >= 6
        for a in kind.attributes.values():
            assert len(a.templates) >= 4 and len(a.questions) >= 4
            assert all(split_items(a.templates, s) and split_items(a.questions, s) for s in SPLITS)


@pytest.mark.parametrize("split", SPLITS)
def test_fact_questions_and_sentences_come_from_their_own_split(split):
    questions = [pattern(q) for a in ATTRIBUTES for q in split_items(a.questions, split)]
    templates = [pattern(t) for a in ATTRIBUTES for t in split_items(a.templates, split)]
    rng = random.Random(5)
    for _ in range(100):
        sample = fact_sample(rng, split)
        for qa in sample.qas:
            assert any(p.fullmatch(qa.question) for p in questions), qa.question
            stated = [s for s in sentences(sample.document) if qa.answer in s]
            assert len(stated) == 1 and any(p.fullmatch(stated[0]) for p in templates), stated


def test_fact_documents_contain_distractor_sentences():
    rng = random.Random(11)
    generic = other_entity = 0
    for _ in range(100):
        sample = fact_sample(rng, "train", n_facts=3, n_distractors=3)
        assert sample.kind == "facts" and len(sample.qas) == 3
        parts = sentences(sample.document)
        assert len(parts) == 6
        distractors = [s for s in parts if not any(qa.answer in s for qa in sample.qas)]
        assert len(distractors) == 3
        generic += sum(d in FILLER_FACTS for d in distractors)
        other_entity += sum(d not in FILLER_FACTS for d in distractors)
    assert generic > 50 and other_entity > 50


@pytest.mark.parametrize("kind", ["needle", "facts"])
def test_answers_come_from_an_open_vocabulary(kind):
    samples = list(islice(sample_stream(2, "train", {kind: 1.0}, count_words, (16, 32)), 200))
    answers = [s.qas[0].answer for s in samples]
    assert len(set(answers)) >= 0.9 * len(answers)


def test_invalid_arguments_are_rejected():
    rng = random.Random(0)
    with pytest.raises(ValueError):
        pseudo_word(rng, "test")
    with pytest.raises(ValueError):
        needle_sample(rng, "train", 64, count_words, depth=1.5)
    with pytest.raises(ValueError):
        fact_sample(rng, "train", n_facts=0)
    with pytest.raises(ValueError):
        multi_fact_sample(rng, "train", entities=0)
    with pytest.raises(ValueError):
        next(sample_stream(0, "train", {"essays": 1.0}, count_words))


@pytest.mark.parametrize("split", SPLITS)
def test_multi_entity_documents_ask_every_entity_once_per_answer(split):
    rng = random.Random(3)
    for _ in range(20):
        sample = multi_fact_sample(rng, split, entities=4)
        assert sample.kind == "facts" and len(sample.qas) >= 4
        assert all(sample.document.count(qa.answer) == 1 for qa in sample.qas)  # one sentence answers each
        assert len({qa.question for qa in sample.qas}) == len(sample.qas)


def test_stream_mixes_entity_counts_only_when_asked():
    single = [s for s in islice(sample_stream(5, "train", {"facts": 1.0}, count_words), 30)]
    multi = [s for s in islice(sample_stream(5, "train", {"facts": 1.0}, count_words, fact_entities=4), 30)]
    assert max(len(s.qas) for s in single) <= 4  # one entity: 1-4 facts
    assert max(len(s.qas) for s in multi) > 4
