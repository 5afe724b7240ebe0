"""Splitting a tokenized document into contiguous chunks for Doc-to-LoRA.

Each chunk is encoded on its own and the chunk adapters are concatenated along rank
(REFERENCE.md, "Long documents"), so a document of any length fits the hypernetwork.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def chunk_token_ids(ids: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Split ``ids`` into the fewest contiguous chunks of at most ``max_tokens`` tokens.

    Chunks are balanced (sizes differ by at most one) so the last chunk is never a stub of a few
    tokens that would yield a near-empty adapter. Joining the chunks gives ``ids`` back exactly:
    cuts fall between tokens, never inside one.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    if not ids:
        return []
    n = math.ceil(len(ids) / max_tokens)
    base, extra = divmod(len(ids), n)
    chunks, start = [], 0
    for i in range(n):
        end = start + base + (1 if i < extra else 0)
        chunks.append(list(ids[start:end]))
        start = end
    return chunks
