"""Routing supervision: a question's state should read its own fact's row, not another's.

With several entities in one document, the shipped network's rows hold most facts, but at the
answer's first token the question's state reads the same attribute's row of another entity as
loudly as its own (BENCHMARKS.md, "Routing"). The answer loss reaches that choice only through
the whole backbone; this loss names it. Training knows where each answer sits in its document,
so for answer token j the row to read is the one stored on the document token before it (its B
says "say token j next"). A softmax over every token of the document's chunks, distractor
documents' chunks included, and cross-entropy on that token train
`FastWeightDocToLoRA.route_logits`; tokens already read right cost little.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from lora_memory.backbone import Backbone
from lora_memory.data.synthetic import DocSample


def answer_rows(backbone: Backbone, encoded: Mapping, document: str, answer: str) -> list[int | None]:
    """For each token of ``answer`` alone, the document token whose successor starts the same text.

    ``encoded`` is the tokenizer's output for ``document`` with offsets. The answer's first
    occurrence is located by characters. The first answer token's row is the token before the one
    holding the answer's first character (" Quenton" in prose may be "Quen", "ton" alone); a
    later token's is the token before the document token starting where it starts, None where
    the two tokenizations cut differently, or where the answer is not in the document.
    """
    at = document.find(answer)
    alone = backbone.tokenizer(answer, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    if at < 0:
        return [None] * len(alone)
    offsets = encoded["offset_mapping"]
    first = next((i for i, (a, b) in enumerate(offsets) if a <= at < b), 0)
    starts = {a: i for i, (a, _) in enumerate(offsets)}
    tokens = [first, *(starts.get(at + a) for a, _ in alone[1:])]
    return [None if k is None or k < 1 else k - 1 for k in tokens]


def routing_loss(
    backbone: Backbone,
    net: torch.nn.Module,
    docs: Sequence[DocSample],
    chunks: Sequence[Sequence[int]],
    groups: Sequence[Sequence[int]],
    chunk_inputs: Mapping[int, Tensor],
    question_inputs: Mapping[tuple[int, str], Tensor],
    positions: Sequence[Sequence[int]],
    temperature: float,
) -> tuple[Tensor, float]:
    """Mean cross-entropy of each answer token's row choice, and the share chosen right.

    Args:
        docs: the batch; its questions are the sequences of ``positions`` in order.
        chunks, groups: as `assemble` reads them; a document's own chunks open its group.
        chunk_inputs: `chunk_adapters`' ``inputs_out``.
        question_inputs: the adapted module's inputs in the student pass, ``(sequences, seq, d_in)``.
        positions: per question, the positions predicting its answer's tokens (`answer_batch`).
    """
    losses, right, total = [], 0, 0
    sequence = 0
    layers = [question_inputs[(layer, net.target)].detach() for layer in net.layers]
    for doc, group in zip(docs, groups, strict=True):
        encoded = backbone.tokenizer(doc.document, add_special_tokens=False, return_offsets_mapping=True)
        keys, where, offset, doc_at = [], {}, 0, 0
        for c in group:
            if doc_at < len(encoded["input_ids"]):  # own chunks open the group and join into the document
                where.update({doc_at + p: offset + p for p in range(len(chunks[c]) - 1)})
                doc_at += len(chunks[c])
            keys.append(chunk_inputs[c])
            offset += len(chunks[c]) - 1
        asked, targets = [], []  # (sequence, position) of each supervised answer token, and its row
        for qa in doc.qas:
            rows = answer_rows(backbone, encoded, doc.document, qa.answer)
            # every token: a year's first digit is no choice ("1"), its second picks the entity's
            for position, row in zip(positions[sequence], rows, strict=False):
                if row is not None and row in where:
                    asked.append((sequence, position))
                    targets.append(where[row])
            sequence += 1
        if not targets:
            continue
        seqs, cols = zip(*asked, strict=True)
        queries = torch.stack([states[list(seqs), list(cols)] for states in layers], dim=1)  # (asked, layers, d_in)
        logits = net.route_logits(torch.cat(keys, dim=1), queries, temperature)
        target = torch.tensor(targets, device=logits.device)
        losses.append(F.cross_entropy(logits, target))
        right += int((logits.argmax(-1) == target).sum())
        total += len(targets)
    if not losses:
        return torch.zeros((), device=backbone.device), 0.0
    return torch.stack(losses).mean(), right / total
