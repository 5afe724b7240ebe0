"""Reranking: the embedding router's best few reordered by how likely the backbone finds the question."""

import pytest
import torch

from lora_memory import ParametricMemory, Router
from lora_memory.router import RERANK_CANDIDATES, RERANK_WEIGHT, QuestionLikelihood, rerank
from tests.test_memory import DOCS, NAMES, HashEncoder, question


def test_rerank_adds_weighted_cosine_to_likelihood_and_keeps_ties_in_route_order():
    route = [(7, 0.9), (3, 0.8), (5, 0.8), (1, 0.1)]
    likelihoods = [-3.0, -1.0, -1.0, -0.5]
    ranked = rerank(route, likelihoods, k=3, weight=5.0)
    assert [i for i, _ in ranked] == [3, 5, 7]  # -1 + 4 = 3 twice (route order kept), then -3 + 4.5
    assert [s for _, s in ranked] == pytest.approx([3.0, 3.0, 1.5])
    assert rerank(route, likelihoods, k=1, weight=0.0) == [(1, -0.5)]


def test_question_likelihood_is_the_mean_log_probability_of_the_question_after_the_prompt(lively):
    text, asked = "Ada keeps three goats.", "How many goats does Ada keep?"
    prompt = lively.chat_prompt(f"Write a question about this passage.\n\n{text}", system="")
    ids = torch.tensor([prompt + lively.tokenize(asked)])
    logp = torch.log_softmax(lively.forward_logits(ids)[0].float(), dim=-1)
    expected = logp[len(prompt) - 1 : -1].gather(-1, ids[0, len(prompt) :, None]).mean()
    scores = QuestionLikelihood(lively, batch_size=1)([(text, asked), ("Something else entirely here.", asked)])
    assert len(scores) == 2 and all(s < 0 for s in scores)
    assert scores[0] == pytest.approx(float(expected), abs=1e-4)
    # batching pads the shorter pair; its score must not change
    assert QuestionLikelihood(lively, batch_size=2)([(text, asked), ("x " * 30, asked)])[0] == pytest.approx(
        scores[0], abs=1e-4
    )


@pytest.fixture(scope="module")
def memories(lively, lively_net):
    """The same six documents in two memories, one reranking and one not."""
    kw = {"backbone": lively, "doc2lora": lively_net, "encoder": HashEncoder(), "max_new_tokens": 4}
    plain, reranked = ParametricMemory(rerank=False, **kw), ParametricMemory(**kw)
    plain.add_documents(DOCS[:6], ids=NAMES[:6], progress=False)
    reranked.add_documents(DOCS[:6], ids=NAMES[:6], progress=False)
    yield plain, reranked
    plain.close()
    reranked.close()


def test_memory_reorders_its_embedding_candidates_by_question_likelihood(lively, memories):
    plain, reranked = memories
    asked = question(NAMES[2])
    candidates = plain.route(asked, k=RERANK_CANDIDATES)
    router = Router(HashEncoder())
    cosines = router.embed([asked])[0] @ router.embed([plain.get(i).text for i, _ in candidates]).T
    assert [s for _, s in candidates] == pytest.approx(cosines.tolist(), abs=1e-5)  # rerank=False: plain cosine
    likelihoods = QuestionLikelihood(lively)([(plain.get(i).text, asked) for i, _ in candidates])
    expected = sorted(
        ((i, ll + RERANK_WEIGHT * s) for (i, s), ll in zip(candidates, likelihoods, strict=True)),
        key=lambda pair: -pair[1],
    )
    got = reranked.route(asked, k=2)
    assert [i for i, _ in got] == [i for i, _ in expected[:2]]
    assert [s for _, s in got] == pytest.approx([s for _, s in expected[:2]], abs=1e-4)
    answer = reranked.ask(asked, k=2)
    assert answer.document_ids == [i for i, _ in got]


def test_documents_too_long_to_rerank_keep_the_embedding_order(memories, monkeypatch):
    plain, reranked = memories
    monkeypatch.setattr("lora_memory.router.RERANK_MAX_TOKENS", 3)
    asked = question(NAMES[4])
    assert reranked.route(asked, k=3) == plain.route(asked, k=3)


def test_batched_questions_are_reranked_like_single_ones(memories):
    _, reranked = memories
    asked = [question(n) for n in NAMES[:3]]
    for q, answer in zip(asked, reranked.ask_batch(asked, k=2), strict=True):
        single = reranked.route(q, k=2)
        assert answer.document_ids == [i for i, _ in single]
        assert answer.scores == pytest.approx([s for _, s in single], abs=1e-4)


def test_a_candidate_deleted_meanwhile_drops_out_of_the_route(lively, lively_net):
    asked = question(NAMES[1])
    with ParametricMemory(backbone=lively, doc2lora=lively_net, encoder=HashEncoder()) as memory:
        memory.add_documents(DOCS[:4], ids=NAMES[:4], progress=False)
        gone = memory.route(asked)[0][0]
        read_embeddings = memory._store.embeddings

        def embeddings_then_a_delete(*args):  # another thread deletes right after routing read the vectors
            read = read_embeddings(*args)
            memory._store.delete(gone)
            return read

        memory._store.embeddings = embeddings_then_a_delete
        memory._index = None  # read the embeddings again, as after another process's write
        route = memory.route(asked, k=RERANK_CANDIDATES)
    assert gone not in [i for i, _ in route] and len(route) == RERANK_CANDIDATES - 1


def test_short_texts_reads_only_texts_within_the_limit(memories):
    plain, _ = memories
    tokens = {i: plain.get(i).tokens for i in NAMES[:2]}
    keys = [(i, 0) for i in NAMES[:2]]  # one segment each
    texts = plain._store.short_texts([*keys, ("absent", 0), (NAMES[0], 1)], max(tokens.values()))
    assert texts == {(i, 0): plain.get(i).text for i in NAMES[:2]}  # a segment not stored is left out
    assert plain._store.short_texts(keys, min(tokens.values()) - 1) == dict.fromkeys(keys)
