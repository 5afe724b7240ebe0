"""Routing: which stored documents' adapters a question should run with.

Each adapter holds one document, so a memory of many documents first picks the few that matter,
by cosine similarity of sentence embeddings (the retrieval step of RAG, choosing adapters instead
of prompt text). The default encoder is all-MiniLM-L6-v2, already used by Text-to-LoRA and loaded
once per process; any callable ``texts -> (n, dim)`` works, e.g. a cheap one in tests.

Sentence embeddings find the passages about a question's subject but often miss which of them
holds the asked relation ("codename" against "known only as"), so `QuestionLikelihood` reorders the
few best by how likely the backbone finds the question as one written about each passage (query
likelihood, as UPR does): on development fact documents stored as passages this lifted the routed
passage holding the answer from 84% to 92% (BENCHMARKS.md, "Routing passages by question likelihood").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from lora_memory.backbone import Backbone
from lora_memory.errors import LoraMemoryError
from lora_memory.hypernets.encoders import MINILM, make_encoder

Encoder = Callable[[Sequence[str]], Tensor]

# Reranking: embedding candidates reordered per question, the weight of their cosine next to the
# question's mean log-probability, and the longest text reranked; all chosen on development sets.
RERANK_CANDIDATES = 3
RERANK_WEIGHT = 5.0
RERANK_MAX_TOKENS = 256


class Router:
    """Cosine-similarity routing over a sentence encoder.

    Args:
        encoder: callable mapping texts to a ``(n, dim)`` tensor (or array). Give it a ``name``
            attribute: the store keeps embeddings per encoder name and recomputes them when the
            name changes.
        batch_size: texts per encoder call, bounding memory when embedding many documents.
    """

    def __init__(self, encoder: Encoder, *, batch_size: int = 64):
        self.encoder = encoder
        self.batch_size = batch_size
        self.name: str = getattr(encoder, "name", None) or getattr(encoder, "__qualname__", type(encoder).__qualname__)

    @classmethod
    def default(cls, backbone: Backbone) -> Router:
        """all-MiniLM-L6-v2 on the backbone's device, shared with Text-to-LoRA in this process."""
        return cls(make_encoder(MINILM, backbone))

    def embed(self, texts: Sequence[str]) -> Tensor:
        """L2-normalised fp32 embeddings ``(len(texts), dim)`` on the CPU."""
        texts = list(texts)
        parts = [
            torch.as_tensor(self.encoder(texts[i : i + self.batch_size])).detach().float().cpu()
            for i in range(0, len(texts), self.batch_size)
        ]
        if not parts:
            return torch.empty(0, 0)
        embeddings = torch.cat(parts)
        if embeddings.dim() != 2 or embeddings.shape[0] != len(texts):
            raise LoraMemoryError(
                f"router encoder {self.name!r} returned shape {tuple(embeddings.shape)} for {len(texts)} texts; "
                "it must return one row per text, (n, dim)"
            )
        return F.normalize(embeddings, dim=-1)

    @staticmethod
    def top_k(
        question_embedding: Tensor, doc_embeddings: Tensor, k: int, groups: Tensor | None = None
    ) -> list[tuple[int, float]]:
        """The ``k`` most similar rows (segments) as ``(row index, cosine score)``, best first.

        Args:
            question_embedding: ``(dim,)`` or ``(1, dim)``, normalised.
            doc_embeddings: ``(n, dim)``, normalised.
            k: how many to return (at most ``n``); ties keep the rows' order.
            groups: ``(n,)`` a group number per row (its document); given, at most one row per
                group is returned, its best.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if doc_embeddings.numel() == 0:
            return []
        scores = doc_embeddings @ question_embedding.reshape(-1)  # (n,)
        order = torch.sort(scores, descending=True, stable=True).indices
        if groups is None:
            return [(int(i), float(scores[i])) for i in order[:k]]
        chosen: dict[int, int] = {}
        for i in order.tolist():
            chosen.setdefault(int(groups[i]), i)
            if len(chosen) == k:
                break
        return [(i, float(scores[i])) for i in chosen.values()]


class QuestionLikelihood:
    """How likely the backbone finds a question as one asked about a text (mean log-prob per token).

    The backbone is asked to write a question about the text (an empty system turn: the leanest
    prompt), and the question's tokens are scored as its reply: a text that states what the
    question asks makes it likely, whatever the wording. Each pair costs a pass over the text, so
    `ParametricMemory` scores only texts up to `RERANK_MAX_TOKENS` (longer ones keep the embedding
    order).

    Args:
        backbone: the model that scores; the memory's own backbone, so no other model loads.
        batch_size: (text, question) pairs per forward pass.
    """

    def __init__(self, backbone: Backbone, *, batch_size: int = 16):
        self.backbone = backbone
        self.batch_size = batch_size

    def __call__(self, pairs: Sequence[tuple[str, str]]) -> list[float]:
        """Mean log-probability of each ``(text, question)`` pair's question after its text."""
        bb = self.backbone
        sequences, spans = [], []
        for text, question in pairs:
            prompt = bb.chat_prompt(f"Write a question about this passage.\n\n{text}", system="")
            asked = bb.tokenize(question)
            sequences.append(prompt + asked)
            spans.append((len(prompt), len(prompt) + len(asked)))
        scores: list[float] = []
        for i in range(0, len(sequences), self.batch_size):
            ids, mask = bb.pad(sequences[i : i + self.batch_size])
            with torch.no_grad():
                hidden = bb.final_hidden(ids, mask)
            for row, (start, end) in enumerate(spans[i : i + self.batch_size]):
                logp = torch.log_softmax(bb.logits(hidden[row, start - 1 : end - 1]).float(), dim=-1)
                scores.append(float(logp.gather(-1, ids[row, start:end, None]).mean()))
        return scores


def rerank(
    route: Sequence[tuple[int, float]], likelihoods: Sequence[float], k: int, weight: float = RERANK_WEIGHT
) -> list[tuple[int, float]]:
    """The ``k`` best of an embedding route by ``likelihood + weight * cosine``, as ``(index, score)``."""
    scored = [(i, likelihood + weight * cosine) for (i, cosine), likelihood in zip(route, likelihoods, strict=True)]
    return sorted(scored, key=lambda pair: -pair[1])[:k]
