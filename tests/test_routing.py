"""The routing loss: answer tokens are matched to the document rows that store them."""

import dataclasses
import random

import pytest
import torch

from lora_memory.data.synthetic import QA, DocSample
from lora_memory.hypernets import fresh
from lora_memory.training.doc2lora import Doc2LoRATrainConfig, _chunk_groups, doc2lora_loss
from lora_memory.training.routing import answer_rows, routing_loss

DOCS = [
    DocSample("Ada Quill lives in Port Verin. Her cat is called Miso. The sky is blue.",
              (QA("Where does Ada Quill live?", "Port Verin"), QA("What is her cat called?", "Miso")), "facts"),
    DocSample("Bo Tark was born in 1875. He works as a glassblower in Elm Rise. The grass is green.",
              (QA("When was Bo Tark born?", "1875"), QA("Where does Bo Tark work?", "Elm Rise")), "facts"),
]


def _encoded(backbone, text):
    return backbone.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)


def test_answer_rows_point_at_the_token_before_each_answer_token(backbone):
    for doc in DOCS:
        encoded = _encoded(backbone, doc.document)
        for qa in doc.qas:
            alone = backbone.tokenizer(qa.answer, add_special_tokens=False, return_offsets_mapping=True)
            rows = answer_rows(backbone, encoded, doc.document, qa.answer)
            assert len(rows) == len(alone["input_ids"]) and rows[0] is not None, qa
            at = doc.document.index(qa.answer)
            for row, (a, _) in zip(rows, alone["offset_mapping"]):
                if row is not None:  # the row's successor holds this answer token's first character
                    start, end = encoded["offset_mapping"][row + 1]
                    assert start <= at + a < end
    encoded = _encoded(backbone, DOCS[0].document)
    assert set(answer_rows(backbone, encoded, DOCS[0].document, "Zanzibar")) == {None}


class _SpanMatcher(torch.nn.Module):
    """A row is (document, span of its successor's characters); a question state is (document,
    character its answer token starts at): the score is 1 where the span holds the character."""

    layers, target = (0,), "x"

    def route_logits(self, inputs, queries, temperature):
        rows, asked = inputs[0], queries[:, 0]  # (tokens, 3), (questions, 3)
        same = asked[:, None, 0] == rows[None, :, 0]
        inside = (rows[None, :, 1] <= asked[:, None, 1]) & (asked[:, None, 1] < rows[None, :, 2])
        return (same & inside).float() / temperature


def test_routing_targets_are_the_rows_that_store_each_answer_token(backbone):
    """Every target must be the row whose successor holds the answer token's first character, in
    the right document, among the group's chunks, distractor chunks included."""
    config = Doc2LoRATrainConfig(max_train_chunks=3, distractor_docs=1, min_chunk_tokens=4)
    chunks, groups = _chunk_groups(backbone, DOCS, random.Random(3), config)
    inputs, owner, c = {}, {}, 0
    for d, doc in enumerate(DOCS):  # each document's own chunks come in order, then the next's
        offsets, at = _encoded(backbone, doc.document)["offset_mapping"], 0
        while at < len(offsets):
            n = len(chunks[c])
            inputs[c] = torch.tensor([[d, *offsets[at + p + 1]] for p in range(n - 1)], dtype=torch.float)[None]
            owner[c], at, c = d, at + n, c + 1
    assert any(owner[g[-1]] != d for d, g in enumerate(groups)) and max(map(len, groups)) > 2  # distractors, chunks
    positions, states = [], []
    for d, doc in enumerate(DOCS):
        for qa in doc.qas:
            alone = backbone.tokenizer(qa.answer, add_special_tokens=False, return_offsets_mapping=True)
            chars = [doc.document.index(qa.answer) + a for a, _ in alone["offset_mapping"]]
            positions.append(list(range(1, 1 + len(chars) + 1)))  # + the end-of-answer token
            states.append(torch.tensor([[-1, -1, 0]] + [[d, ch, 0] for ch in chars] + [[-1, -1, 0]], dtype=torch.float))
    questions = torch.nn.utils.rnn.pad_sequence(states, batch_first=True, padding_value=-1)
    loss, right = routing_loss(backbone, _SpanMatcher(), DOCS, chunks, groups, inputs, {(0, "x"): questions},
                               positions, temperature=0.01)
    assert right == 1.0 and loss < 1e-3
    swapped = questions[[1, 0, 2, 3]]  # the first document's two questions read each other's rows
    _, wrong = routing_loss(backbone, _SpanMatcher(), DOCS, chunks, groups, inputs, {(0, "x"): swapped},
                            positions[:1] * 2 + positions[2:], temperature=0.01)
    assert wrong < 1.0


def test_route_logits_choose_rows_without_changing_loudness(backbone):
    net = fresh("doc2lora", backbone, rank=4, b_scale_init=0.1).train().requires_grad_(True)
    d_in = net.a_map.weight.shape[0]
    inputs, queries = torch.randn(len(net.layers), 7, d_in), torch.randn(3, len(net.layers), d_in)
    logits = net.route_logits(inputs, queries, temperature=0.1)
    assert logits.shape == (3, 7) and logits.abs().max() <= 10.0 + 1e-4  # cosines over the temperature
    logits.square().sum().backward()
    assert net.a_map.weight.grad.abs().sum() > 0
    assert net.a_scale.grad is None and net.b_scale.grad is None and net.queries.grad is None
    with torch.no_grad():
        net.a_map.weight.mul_(3.0)
        torch.testing.assert_close(net.route_logits(inputs, queries, temperature=0.1), logits.detach())


def test_training_loss_adds_the_weighted_routing_term(backbone, tmp_path):
    net = fresh("doc2lora", backbone, rank=4, b_scale_init=0.1, surprise_rows=4).train().requires_grad_(True)
    config = Doc2LoRATrainConfig.from_dict(dict(run_dir=str(tmp_path), rank=4, route_weight=0.5, min_chunk_tokens=8))
    with_route, stats = doc2lora_loss(backbone, net, DOCS, random.Random(0), config)
    without, plain = doc2lora_loss(backbone, net, DOCS, random.Random(0), dataclasses.replace(config, route_weight=0.0))
    assert "route" not in plain and 0.0 <= stats["route_acc"] <= 1.0 and stats["route"] > 0
    torch.testing.assert_close(with_route, without + 0.5 * stats["route"], rtol=1e-4, atol=1e-5)
    with_route.backward()
    assert net.a_map.weight.grad.abs().sum() > 0


def test_routing_needs_rows_on_tokens(backbone, tmp_path):
    net = fresh("doc2lora", backbone, arch="perceiver").train()
    with pytest.raises(ValueError, match="route_weight"):
        config = Doc2LoRATrainConfig(run_dir=str(tmp_path), route_weight=1.0)
        doc2lora_loss(backbone, net, DOCS, random.Random(0), config)
