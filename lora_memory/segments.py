"""A document as segments, and what a segment's adapter may cost in stored bytes.

`ParametricMemory` cuts every document into segments of whole sentences (`split_passages`), turns
each into its own adapter and routes a question to the few segments that hold its answer, so a
32K-token document keeps all of its content and a question runs with a few segments' rows.

The point of parametric memory is to hold a text in fewer bytes than its KV cache: by default
(`STORAGE_BUDGET`) a segment's adapter keeps at most as many rank rows as fit in a quarter of the
fp16 KV cache of the segment's own tokens, at the precision it is stored in (`row_budget`), so every
document of `BUDGET_FLOOR_TOKENS` tokens or more is within budget at every length. A shorter
document (a conversation turn, one fact) is priced as if it had `BUDGET_FLOOR_TOKENS` tokens: a
single sentence's own quarter would hold one or two rows, too few to keep anything. Figures
(quality with and without the budget): BENCHMARKS.md, "Documents as segments".
"""

from __future__ import annotations

from lora_memory.adapter_io import row_nbytes
from lora_memory.backbone import Backbone
from lora_memory.passages import split_passages

# Longest segment, in tokens. Measured on held-out 4-entity facts with every row kept (BENCHMARKS.md,
# "Documents as segments"): 24 tokens answer far more than 128 but store 4x the bytes and take 2.5x
# the time to add; 128 keeps a document under its KV cache.
SEGMENT_TOKENS = 128
# The memory's default storage budget: a segment's stored adapter bytes at most this fraction of
# its text's fp16 KV cache (at 128-token segments it cost no measured quality: BENCHMARKS.md).
STORAGE_BUDGET = 0.25
# Documents shorter than this are priced as if they were this long (see the module docstring).
BUDGET_FLOOR_TOKENS = 256


def split_segments(backbone: Backbone, text: str, max_tokens: int = SEGMENT_TOKENS) -> list[str]:
    """``text`` as segments of whole sentences, each at most ``max_tokens`` tokens (`split_passages`).

    Raises:
        DocumentError: the text is empty or not a str.
    """
    return split_passages(backbone, text, max_tokens)


def row_bytes(backbone: Backbone, layers: int, module: str, precision: str) -> int:
    """Stored bytes of one rank row of an adapter on ``layers`` layers of ``module`` (`row_nbytes`)."""
    return row_nbytes(layers, *backbone.module_shape(module), precision)


def row_budget(
    backbone: Backbone, tokens: int, per_row: int, budget: float | None = STORAGE_BUDGET,
    document_tokens: int | None = None,
) -> int | None:
    """Rank rows a segment of ``tokens`` tokens may store: ``budget`` x its fp16 KV cache over the
    bytes of one row (``per_row``, `row_bytes`), at least one. None when ``budget`` is None (no cap).

    ``document_tokens`` (the whole document's) below `BUDGET_FLOOR_TOKENS` scales the segment's
    share up to what a document of that floor may store."""
    if budget is None:
        return None
    scale = BUDGET_FLOOR_TOKENS / document_tokens if document_tokens and document_tokens < BUDGET_FLOOR_TOKENS else 1.0
    return max(1, int(budget * backbone.kv_cache_bytes(tokens) * scale // per_row))
