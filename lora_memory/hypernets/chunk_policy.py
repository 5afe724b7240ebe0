"""How a long document's chunk adapters become one adapter: chunk length, chunks kept, folding.

`internalize` cuts a document into chunks, turns each into a rank-``r`` adapter and concatenates
them along rank (their updates add up). This module is the policy around that sum: how long the
chunks are (`spread_chunk_tokens`), how many of them a long document keeps (`strongest_chunks`)
and how the kept ones are folded so repeated content cannot drown the answer (`fold_chunks`).
An adapter here is a `LoraAdapter` whose rank is whole chunks of ``chunk_rank`` rows, in
document order. Each default is the one the measurements in BENCHMARKS.md chose; the section is
named beside it.

This policy serves `internalize`, the one-adapter path (the CLI's ``internalize``, PEFT export).
`ParametricMemory` stores a document as segments (`internalize_segments`), each its own adapter,
and never drops or folds any of them (BENCHMARKS.md, "Documents as segments").
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from lora_memory.adapter import LoraAdapter

# Chunk adapters summed into one document adapter, at most (BENCHMARKS.md, "Chunks kept at
# 8K-32K, adapter scale, and fine-tuning with serving cuts").
MAX_CHUNKS = 8
# Shortest chunk `internalize` cuts by default: every chunk gets the network's full rank, so a short
# document cut finer stores more, down to where needles start to go missing (BENCHMARKS.md, "Chunk
# size: more rows for dense documents").
MIN_CHUNK_TOKENS = 64
# Chunks `internalize` spreads over a document by default: only short documents are cut finer than
# the longest chunk, and only documents shorter than this many longest chunks (2K tokens for the
# shipped network) get surprise rows, which are measured within a chunk and cost long documents
# needles (BENCHMARKS.md, "Chunk size: more rows for dense documents" and "Surprise rows: more of
# a dense chunk stored, no training").
SPREAD_CHUNKS = 4


def spread_chunk_tokens(n_tokens: int, longest: int) -> int:
    """Chunk length that cuts a document into `SPREAD_CHUNKS` chunks, within
    [`MIN_CHUNK_TOKENS`, ``longest``].

    A short, dense document gets several chunks' worth of rank; from ``SPREAD_CHUNKS`` x
    ``longest`` tokens on, chunks are ``longest`` (the most the network was trained on), and past
    `MAX_CHUNKS` of them `strongest_chunks` picks.
    """
    return min(longest, max(MIN_CHUNK_TOKENS, math.ceil(n_tokens / SPREAD_CHUNKS)))


def fold_chunks(adapter: LoraAdapter, chunk_rank: int) -> LoraAdapter:
    """Concatenated chunk adapters, with each layer's singular values capped at the largest any
    single chunk reaches.

    Chunk adapters add up: content repeated across many chunks (boilerplate, the same filler
    sentences) adds up coherently and drowns the one chunk that holds the answer, which is how a
    16K-token needle document failed where a 4K one passed. Capping the spectrum at a single
    chunk's strength keeps every distinct direction and stops repetition from amplifying one.
    Also `LoraAdapter.compressed`: the result has rank ``min(rank, d_in, d_out)``.
    """
    rank = adapter.rank()
    if rank <= chunk_rank or rank % chunk_rank:
        return adapter.compressed()
    caps = {m: torch.linalg.svdvals(_chunk_cores(adapter, m, chunk_rank)).amax(dim=(1, 2)) for m in adapter.modules}
    return adapter.refactored(cap=caps)


def strongest_chunks(adapter: LoraAdapter, chunk_rank: int, keep: int) -> LoraAdapter:
    """Only the ``keep`` chunk adapters with the largest updates (Frobenius norm, averaged over
    layers and summed over modules), in document order.

    Past a few dozen chunks the summed adapter garbles generation even when folded (at 32K
    tokens, 65 chunks: no needle found, while the needle's chunk with any 7 neighbours answers
    every time), and chunks the hypernetwork found nothing in write weaker updates than the one
    that holds a fact (a needle's chunk measured 3.5x the median). Keeping the strongest bounds
    the sum without looking at any question.
    """
    rank = adapter.rank()
    if rank % chunk_rank or rank // chunk_rank <= keep:
        return adapter
    strength = sum(_chunk_cores(adapter, m, chunk_rank).flatten(2).norm(dim=-1).mean(0) for m in adapter.modules)
    kept = strength.topk(keep).indices.sort().values
    rows = (kept.unsqueeze(1) * chunk_rank + torch.arange(chunk_rank)).flatten()
    return LoraAdapter(
        {m: adapter.A[m][:, rows] for m in adapter.modules}, {m: adapter.B[m][:, :, rows] for m in adapter.modules},
        adapter.layers, adapter.scale, adapter.base_model, {**adapter.metadata, "chunks_kept": kept.tolist()},
    )


def _chunk_cores(adapter: LoraAdapter, name: str, chunk_rank: int) -> Tensor:
    """Per layer and chunk, an ``r x r`` matrix with the singular values (so also the norm) of that
    chunk's scaled ``B_c @ A_c``, from two small QRs instead of the full product."""
    rank = adapter.rank(name)
    a = adapter.A[name].float().unflatten(1, (rank // chunk_rank, chunk_rank))  # (layers, chunks, r, d_in)
    b = adapter.B[name].float().unflatten(2, (rank // chunk_rank, chunk_rank))  # (layers, d_out, chunks, r)
    ra = torch.linalg.qr(a.transpose(2, 3)).R  # (layers, chunks, r, r): A^T = Q R
    rb = torch.linalg.qr(b.permute(0, 2, 1, 3)).R  # (layers, chunks, r, r): B = Q R
    return (rb @ ra.transpose(2, 3)) * abs(adapter.scale)
