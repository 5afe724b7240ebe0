"""Split a document into short passages, each to be stored and routed as its own adapter.

One adapter sums every fact of a document, and a question cannot pick its own fact out of many
about different things: four fictional entities' facts in one ~370-token document were answered
6% exactly, the same text stored as passages of at most 24 tokens and routed by `ParametricMemory`
52% (BENCHMARKS.md, "Passages" and "Routing passages by question likelihood"). Routing finds a
passage by what it says, so this helps where sentences name what they are about. Passages are
whole sentences packed together; only a sentence longer than a passage is cut, since a fact cut
in two is found and stored by neither half. A line break followed by a lower-case ASCII letter is read
as a space: hard-wrapped prose breaks lines inside sentences, and a line break otherwise ends one
(headings, list items).
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence

from lora_memory.backbone import Backbone
from lora_memory.chunking import chunk_token_ids, document_token_ids

# Longest passage by default, about a sentence: of 16, 24 and 32 the size whose passages routing
# found best on development fact documents (BENCHMARKS.md, "Routing passages by question likelihood").
PASSAGE_TOKENS = 24
_WRAPPED_LINE = re.compile(r"(?<=\S)[ \t\r]*\n[ \t]*(?=[a-z])")


def split_passages(backbone: Backbone, text: str, max_tokens: int = PASSAGE_TOKENS) -> list[str]:
    """``text`` as passages of whole sentences, each at most ``max_tokens`` tokens.

    Raises:
        DocumentError: the text is empty or not a str.
        ValueError: ``max_tokens`` below 1.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be at least 1, got {max_tokens}")
    passages: list[list[int]] = []
    ids = document_token_ids(backbone, _WRAPPED_LINE.sub(" ", text) if isinstance(text, str) else text)
    for sentence in sentence_token_ids(ids, backbone.sentence_breaks):
        for piece in chunk_token_ids(sentence, max_tokens):
            if passages and len(passages[-1]) + len(piece) <= max_tokens:
                passages[-1].extend(piece)
            else:
                passages.append(list(piece))
    return [text for text in (backbone.tokenizer.decode(ids).strip() for ids in passages) if text]


def sentence_token_ids(ids: Sequence[int], breaks: Container[int]) -> list[list[int]]:
    """``ids`` cut after each run of sentence-ending tokens (``breaks``); joined, they give ``ids`` back."""
    sentences, start = [], 0
    for i, token in enumerate(ids):
        if token in breaks and (i + 1 == len(ids) or ids[i + 1] not in breaks):
            sentences.append(list(ids[start : i + 1]))
            start = i + 1
    if start < len(ids):
        sentences.append(list(ids[start:]))
    return sentences
