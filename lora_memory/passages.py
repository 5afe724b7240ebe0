"""Split a document into short passages, each to be stored and routed as its own adapter.

One adapter sums every fact of a document, and a question cannot pick its own fact out of many
about different things: four fictional entities' facts in one ~370-token document were answered
6% exactly, the same text stored as passages of at most 32 tokens and routed by `ParametricMemory`
38% (BENCHMARKS.md, "Passages"). Routing finds a passage by what it says, so this helps where
sentences name what they are about; cuts fall between sentences, as `internalize` cuts chunks.
"""

from __future__ import annotations

from lora_memory.backbone import Backbone
from lora_memory.chunking import chunk_token_ids
from lora_memory.hypernets.doc2lora import document_token_ids

# Longest passage by default: about a sentence, best of 24-96 on development fact documents.
PASSAGE_TOKENS = 32


def split_passages(backbone: Backbone, text: str, max_tokens: int = PASSAGE_TOKENS) -> list[str]:
    """``text`` cut between sentences into passages of at most ``max_tokens`` tokens.

    Raises:
        DocumentError: the text is empty or not a str.
        ValueError: ``max_tokens`` below 1.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    ids = document_token_ids(backbone, text)
    chunks = chunk_token_ids(ids, max_tokens, backbone.sentence_breaks)
    return [text for text in (backbone.tokenizer.decode(chunk).strip() for chunk in chunks) if text]
