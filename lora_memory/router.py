"""Embedding router: which stored documents' adapters a question should run with.

Each adapter holds one document, so a memory of many documents first picks the few that matter,
by cosine similarity of sentence embeddings (the retrieval step of RAG, choosing adapters instead
of prompt text). The default encoder is all-MiniLM-L6-v2, already used by Text-to-LoRA and loaded
once per process; any callable ``texts -> (n, dim)`` works, e.g. a cheap one in tests.
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
    def top_k(question_embedding: Tensor, doc_embeddings: Tensor, k: int) -> list[tuple[int, float]]:
        """The ``k`` most similar documents as ``(row index, cosine score)``, best first.

        Args:
            question_embedding: ``(dim,)`` or ``(1, dim)``, normalised.
            doc_embeddings: ``(n, dim)``, normalised.
            k: how many to return (at most ``n``); ties keep the documents' order.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if doc_embeddings.numel() == 0:
            return []
        scores = doc_embeddings @ question_embedding.reshape(-1)  # (n,)
        order = torch.sort(scores, descending=True, stable=True).indices[:k]
        return [(int(i), float(scores[i])) for i in order]
