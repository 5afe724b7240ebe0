"""Splitting a tokenized document into contiguous chunks for Doc-to-LoRA.

Each chunk is encoded on its own and the chunk adapters are concatenated along rank
(REFERENCE.md, "Long documents"), so a document of any length fits the hypernetwork.
"""

from __future__ import annotations

import math
from collections.abc import Container, Sequence
from typing import Protocol

from lora_memory.errors import DocumentError, check_unicode

SENTENCE_ENDS = (".", "!", "?", "\n")


class Tokenizes(Protocol):
    """Anything with the backbone's ``tokenize``: plain text -> token ids, no special tokens."""

    def tokenize(self, text: str) -> list[int]: ...


def document_token_ids(backbone: Tokenizes, text: str, max_tokens: int | None = None) -> list[int]:
    """Validate a document and tokenize it; bad input raises `DocumentError` naming the problem."""
    if not isinstance(text, str):
        raise DocumentError(f"a document must be str, got {type(text).__name__}; decode bytes as UTF-8 first")
    if not text.strip():
        raise DocumentError("the document is empty (or only whitespace): there is nothing to internalize; pass its text")
    check_unicode(text, "document", DocumentError)
    ids = backbone.tokenize(text)
    if max_tokens is not None and len(ids) > max_tokens:
        raise DocumentError(
            f"the document has {len(ids)} tokens, over the configured limit of {max_tokens}; "
            "split it or raise max_tokens"
        )
    return ids


def chunk_token_ids(ids: Sequence[int], max_tokens: int, breaks: Container[int] = ()) -> list[list[int]]:
    """Split ``ids`` into contiguous chunks of at most ``max_tokens`` tokens, cut between sentences.

    Each cut aims at a balanced share of what is left, so the last chunk is never a stub of a
    few tokens that would yield a near-empty adapter. Where ``breaks`` (token ids that end a
    sentence, see `sentence_break_ids`) holds a token in the second half of the chunk, the cut
    moves back to just after the last one: a fact cut in two is stored by neither chunk's
    adapter. Without ``breaks``, chunks are the fewest possible and differ in size by at most
    one. Joining the chunks gives ``ids`` back exactly: cuts fall between tokens, never inside one.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    chunks, start = [], 0
    while len(ids) - start > max_tokens:
        left = len(ids) - start
        end = start + math.ceil(left / math.ceil(left / max_tokens))
        floor = start + (end - start + 1) // 2
        end = next((i + 1 for i in range(end - 1, floor - 1, -1) if ids[i] in breaks), end)
        chunks.append(list(ids[start:end]))
        start = end
    if start < len(ids):
        chunks.append(list(ids[start:]))
    return chunks


def sentence_break_ids(tokenizer) -> frozenset[int]:
    """Ids of the vocabulary's tokens that end a sentence or a line (their text, right-stripped
    of spaces, ends in one of `SENTENCE_ENDS`, or holds a newline)."""
    texts = tokenizer.batch_decode([[i] for i in range(len(tokenizer))])
    return frozenset(i for i, t in enumerate(texts) if "\n" in t or t.rstrip(" ").endswith(SENTENCE_ENDS))
