"""Passages: a document cut between sentences into pieces a memory stores and routes separately."""

import pytest
import torch

from lora_memory.errors import DocumentError
from lora_memory.passages import sentence_token_ids, split_passages

TEXT = " ".join(f"Entity number {i} lives in town {i} and keeps {i} goats." for i in range(12))


def test_passages_are_short_whole_sentences_that_join_back_into_the_text(backbone):
    passages = split_passages(backbone, TEXT, max_tokens=40)
    assert len(passages) > 2
    assert " ".join(passages) == TEXT
    assert all(p.endswith(".") and len(backbone.tokenize(p)) <= 40 for p in passages)


def test_a_short_text_is_one_passage(backbone):
    assert split_passages(backbone, "Only this.", max_tokens=40) == ["Only this."]


def test_bad_input_names_the_problem(backbone):
    with pytest.raises(DocumentError, match="empty"):
        split_passages(backbone, "   ")
    with pytest.raises(ValueError, match="max_tokens"):
        split_passages(backbone, TEXT, max_tokens=0)


class _NameEncoder:
    """Routes by the capitalised words a text shares with the question (instant, deterministic)."""

    name = "names"

    def __call__(self, texts):
        names = ["Ada", "Bo", "Cy", "Dee"]
        return torch.tensor([[float(n in text) for n in names] for text in texts]) + 1e-3


def test_answers_from_passages_route_each_question_to_its_passage(lively, lively_net):
    from lora_memory.data.synthetic import QA, DocSample
    from lora_memory.evaluation.qa import answer_from_memory

    text = " ".join(f"{n} keeps {k} goats at the farm by the long river in the north." for n, k in
                    [("Ada", 3), ("Bo", 5), ("Cy", 7), ("Dee", 9)])
    sample = DocSample(text, tuple(QA(f"How many goats does {n} keep?", k) for n, k in
                                   [("Ada", "3"), ("Cy", "7"), ("Dee", "9")]), "facts")
    assert len(split_passages(lively, text, max_tokens=48)) == 4
    records = answer_from_memory(lively, lively_net, [sample], segment_tokens=48, max_new_tokens=2,
                                   encoder=_NameEncoder())
    assert [r["gold"] for r in records] == ["3", "7", "9"]
    assert all(r["routed_holds_answer"] for r in records)
    assert all(isinstance(r["prediction"], str) and set(r) >= {"exact", "f1", "kind"} for r in records)


def test_hard_wrapped_lines_do_not_end_sentences_but_headings_and_list_items_do(backbone):
    text = "# Title\n\nThe cooperative owns one truck that\ndrives the catch to market.\n- Item one\n- Item two"
    passages = split_passages(backbone, text, max_tokens=200)
    assert passages == [text.replace("that\ndrives", "that drives")]
    sentence = "The cooperative owns one truck that drives the catch to market."
    assert sentence in split_passages(backbone, text, max_tokens=len(backbone.tokenize(sentence)) + 1)


def test_short_sentences_are_packed_together_and_a_long_one_is_cut_to_size(backbone):
    short = [f"Item {i} is red." for i in range(6)]
    size = len(backbone.tokenize(" " + " ".join(short[:2])))  # two sentences, each after a space
    passages = split_passages(backbone, " ".join(short), max_tokens=size)
    assert passages == [" ".join(short[i : i + 2]) for i in range(0, 6, 2)]
    long = "word " * 40 + "end."
    pieces = split_passages(backbone, long, max_tokens=10)  # one sentence: cut into balanced pieces
    assert len(pieces) == -(-len(backbone.tokenize(long)) // 10) and " ".join(pieces).split() == long.split()


def test_sentence_token_ids_cut_after_runs_of_breaks_and_join_back():
    breaks = {0, 1}  # say 0 is "." and 1 is "!"
    ids = [5, 6, 0, 7, 1, 0, 8, 9, 0, 0, 4]
    sentences = sentence_token_ids(ids, breaks)
    assert sentences == [[5, 6, 0], [7, 1, 0], [8, 9, 0, 0], [4]]
    assert [t for s in sentences for t in s] == ids
