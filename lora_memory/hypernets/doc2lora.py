"""Doc-to-LoRA: one interface over the architectures, and the document -> adapter pipeline.

A `DocToLoRA` network maps the backbone's activations of ONE chunk to a LoRA of fixed rank. A
document is tokenized, split into chunks, each chunk encoded independently, and the chunk
adapters concatenated along rank, plus the network's context-free bias LoRA once (Doc-to-LoRA,
arXiv 2602.15902, "long documents"). Training and inference share `encode_chunks` and `assemble`;
how long chunks are and how a long document's chunk adapters are kept and folded is the
`chunk_policy`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from tqdm.auto import tqdm

from lora_memory.adapter import AdapterBatch, LoraAdapter, concat_adapters
from lora_memory.backbone import Backbone
from lora_memory.chunking import chunk_token_ids, document_token_ids
from lora_memory.hypernets.base import Hypernetwork
from lora_memory.hypernets.chunk_policy import (
    MAX_CHUNKS,
    SPREAD_CHUNKS,
    fold_chunks,
    spread_chunk_tokens,
    strongest_chunks,
)


@dataclass
class ChunkFeatures:
    """The backbone's view of a batch of chunks (right-padded), as the hypernetwork reads it.

    Attributes:
        input_ids: ``(chunks, tokens)``.
        mask: ``(chunks, tokens)``, 1 on real tokens.
        block_inputs: layer -> decoder block input ``(chunks, tokens, hidden)``.
        module_inputs: (layer, module) -> module input ``(chunks, tokens, d_in)``.
        next_embeddings: input embedding of the NEXT token ``(chunks, tokens, hidden)``; zero where
            there is none.
        next_mask: ``(chunks, tokens)``, 1 where a next token exists inside the chunk.
        next_nll: ``(chunks, tokens)``, the backbone's surprise at the next token (nats; 0 where
            there is none), when the architecture asks for it; else None.
        normed_block_inputs: layer -> the block's input through the model's final norm, for the
            layers an architecture asks for (upstream Doc-to-LoRA reads the last one so).
    """

    input_ids: Tensor
    mask: Tensor
    block_inputs: dict[int, Tensor]
    module_inputs: dict[tuple[int, str], Tensor]
    next_embeddings: Tensor
    next_mask: Tensor
    next_nll: Tensor | None = None
    normed_block_inputs: dict[int, Tensor] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True)
class FeatureRequest:
    """Which activations an architecture reads (captured in one early-exit forward pass);
    ``next_nll`` runs the pass to the end for the backbone's surprise at every next token;
    ``normed_blocks`` also passes those blocks' inputs through the model's final norm."""

    blocks: frozenset[int] = frozenset()
    modules: frozenset[tuple[int, str]] = frozenset()
    next_nll: bool = False
    normed_blocks: frozenset[int] = frozenset()


class DocToLoRA(Hypernetwork):
    """Base class: chunk features in, one adapter per chunk out (scale folded into B)."""

    kind = "doc2lora"

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(self.config.layers)

    @property
    def target(self) -> str:
        return self.config.target

    @property
    def chunk_tokens(self) -> int:
        return int(self.config.chunk_tokens)

    def feature_request(self) -> FeatureRequest:
        raise NotImplementedError

    def forward(self, features: ChunkFeatures) -> AdapterBatch:
        raise NotImplementedError

    def bias_adapter(self) -> AdapterBatch | None:
        """A context-independent LoRA appended once per document, or None."""
        return None

    def chunk_prompt(self, backbone: Backbone, ids: Sequence[int]) -> list[int]:
        """The token ids the backbone reads for a chunk: the chunk itself, unless an architecture
        was trained on chunks wrapped in something (a chat turn, upstream)."""
        return list(ids)


def encode_chunks(
    backbone: Backbone, hypernet: DocToLoRA, chunks: Sequence[Sequence[int]], surprise: bool = True
) -> ChunkFeatures:
    """Run the frozen backbone over chunks and collect what ``hypernet`` reads (no gradients);
    ``surprise=False`` leaves out the next-token surprise even where the network asks for it."""
    request = hypernet.feature_request()
    request = dataclasses.replace(request, next_nll=request.next_nll and surprise)
    ids, mask = backbone.pad([hypernet.chunk_prompt(backbone, c) for c in chunks], side="right")
    blocks = request.blocks | request.normed_blocks
    capture = backbone.capture(ids, mask, blocks=blocks, modules=request.modules, final=request.next_nll)
    normed = {layer: backbone.final_norm(capture.block_inputs[layer]) for layer in request.normed_blocks}
    with torch.no_grad():
        next_ids = torch.roll(ids, -1, dims=1)
        next_mask = torch.roll(mask, -1, dims=1) * mask
        next_mask[:, -1] = 0
        next_emb = backbone.token_embeddings(next_ids) * next_mask.unsqueeze(-1).to(backbone.dtype)
        nll = backbone.next_token_nll(capture.final_hidden, ids) * next_mask if request.next_nll else None
    return ChunkFeatures(ids, mask, capture.block_inputs, capture.module_inputs, next_emb, next_mask, nll, normed)


def chunk_adapters(
    backbone: Backbone,
    hypernet: DocToLoRA,
    chunks: Sequence[Sequence[int]],
    group: int = 8,
    inputs_out: dict[int, Tensor] | None = None,
) -> AdapterBatch:
    """One adapter per chunk, in order, encoding chunks of similar length together.

    Chunks of mixed lengths padded into one batch waste most of the backbone pass on padding
    (training samples 1-4 chunks of documents from 48 to 1024 tokens); sorting them by length
    and encoding ``group`` at a time keeps that waste small. Adapters do not depend on the padded
    length, so the result is the same as one batch. Differentiable, for training.

    ``inputs_out``, when given, is filled with chunk index -> the adapted module's inputs on the
    chunk's tokens that have a successor in it, ``(layers, tokens - 1, d_in)``, no gradient: the
    rows a chunk can store, for training losses that read them (`route_logits`).
    """
    net = hypernet.module if hasattr(hypernet, "module") else hypernet
    order = sorted(range(len(chunks)), key=lambda i: len(chunks[i]))
    parts = []
    for s in range(0, len(order), group):
        features = encode_chunks(backbone, net, [chunks[i] for i in order[s : s + group]])
        parts.append(hypernet(features))
        if inputs_out is not None:
            for row, i in enumerate(order[s : s + group]):
                inputs_out[i] = torch.stack([features.module_inputs[(layer, net.target)][row, : len(chunks[i]) - 1]
                                             for layer in net.layers]).detach()
    back = torch.argsort(torch.tensor(order, device=backbone.device))
    return AdapterBatch({m: torch.cat([p.A[m] for p in parts]).index_select(0, back) for m in parts[0].A},
                        {m: torch.cat([p.B[m] for p in parts]).index_select(0, back) for m in parts[0].B},
                        parts[0].layers)


def assemble(chunk_adapters: AdapterBatch, groups: Sequence[Sequence[int]], bias: AdapterBatch | None) -> AdapterBatch:
    """Concatenate chunk adapters along rank into one adapter per group (document).

    Args:
        chunk_adapters: one adapter per chunk, batch dim = chunks.
        groups: for each document, the indices of its chunks.
        bias: a batch-1 bias adapter appended once per document, or None.

    Differentiable, so training learns through chunk concatenation exactly as it is served. One
    gather serves every document (index ``chunks`` is a zero chunk padding the shorter groups):
    slicing chunk by chunk made backward fill a full-size gradient per slice.
    """
    docs, width, zero = len(groups), max(len(g) for g in groups), chunk_adapters.batch_size
    device = next(iter(chunk_adapters.A.values())).device
    index = torch.tensor([i for g in groups for i in (*g, *[zero] * (width - len(g)))], device=device)
    A: dict[str, Tensor] = {}
    B: dict[str, Tensor] = {}
    for name, a in chunk_adapters.A.items():
        b = chunk_adapters.B[name]
        layers, rank, d_in = a.shape[1:]
        d_out = b.shape[2]
        a = torch.cat([a, a.new_zeros(1, *a.shape[1:])]).index_select(0, index)  # (docs * width, layers, rank, d_in)
        b = torch.cat([b, b.new_zeros(1, *b.shape[1:])]).index_select(0, index)  # (docs * width, layers, d_out, rank)
        a = a.view(docs, width, layers, rank, d_in).transpose(1, 2).reshape(docs, layers, width * rank, d_in)
        b = b.view(docs, width, layers, d_out, rank).permute(0, 2, 3, 1, 4).reshape(docs, layers, d_out, width * rank)
        if bias is not None:
            a = torch.cat([a, bias.A[name].expand(docs, -1, -1, -1)], dim=2)
            b = torch.cat([b, bias.B[name].expand(docs, -1, -1, -1)], dim=3)
        A[name], B[name] = a, b
    return AdapterBatch(A, B, chunk_adapters.layers)


def internalize(
    backbone: Backbone,
    hypernet: DocToLoRA,
    text: str,
    *,
    chunk_tokens: int | None = None,
    batch_size: int = 4,
    max_tokens: int | None = None,
    progress: bool = False,
    compress: bool = True,
    max_chunks: int = MAX_CHUNKS,
) -> LoraAdapter:
    """Turn a document into one LoRA adapter with a single forward pass per chunk.

    Chunks are cut between sentences, ``chunk_tokens`` long at most (default: a few over a short
    document by `spread_chunk_tokens`, else the network's ``chunk_tokens``). A network with
    surprise rows gets them on documents shorter than `SPREAD_CHUNKS` of its longest chunks.

    Chunks are encoded ``batch_size`` at a time and each batch's adapters are written straight
    into the document's adapter (what `assemble` computes: chunks in order, then the bias), so
    peak memory is one batch of chunk activations plus the adapter itself, whatever the length.
    With ``compress`` (the default), several chunks are folded by `fold_chunks`:
    rank at most the weight's own, so state and per-token cost stop growing with length, and no
    direction louder than one chunk makes it, so repeated content cannot drown the answer.
    Networks with a bias adapter (Perceiver) only get the exact `LoraAdapter.compressed`.
    """
    ids = document_token_ids(backbone, text, max_tokens)
    size = chunk_tokens or spread_chunk_tokens(len(ids), hypernet.chunk_tokens)
    chunks = chunk_token_ids(ids, size, backbone.sentence_breaks)
    short = len(ids) < SPREAD_CHUNKS * hypernet.chunk_tokens
    A: dict[str, Tensor] = {}
    B: dict[str, Tensor] = {}
    filled: dict[str, int] = {}
    with torch.no_grad(), tqdm(total=len(chunks), desc="internalize", unit="chunk", disable=not progress) as bar:
        bias = hypernet.bias_adapter()
        for start in range(0, len(chunks), batch_size):
            batch = chunks[start : start + batch_size]
            out = hypernet(encode_chunks(backbone, hypernet, batch, surprise=short))
            for m in out.A:
                a, b = out.A[m], out.B[m]  # (n, layers, r, d_in), (n, layers, d_out, r)
                n, n_layers, chunk_rank, d_in = a.shape
                d_out = b.shape[2]
                if m not in A:
                    total = len(chunks) * chunk_rank + (bias.A[m].shape[2] if bias is not None else 0)
                    A[m], B[m], filled[m] = a.new_empty(n_layers, total, d_in), b.new_empty(n_layers, d_out, total), 0
                at = filled[m]
                A[m][:, at : at + n * chunk_rank] = a.transpose(0, 1).reshape(n_layers, n * chunk_rank, d_in)
                B[m][:, :, at : at + n * chunk_rank] = b.permute(1, 2, 0, 3).reshape(n_layers, d_out, n * chunk_rank)
                filled[m] = at + n * chunk_rank
            layers = out.layers
            bar.update(len(batch))
        if bias is not None:
            for m in A:
                A[m][:, filled[m] :] = bias.A[m][0]
                B[m][:, :, filled[m] :] = bias.B[m][0]
        doc = AdapterBatch({m: t.unsqueeze(0) for m, t in A.items()}, {m: t.unsqueeze(0) for m, t in B.items()}, layers)
    adapter = doc.to_adapter(
        base_model=backbone.name,
        metadata={"kind": "doc2lora", "arch": hypernet.arch, "tokens": len(ids), "chunks": len(chunks)},
    )
    if not compress:
        return adapter
    if bias is not None or len(chunks) == 1:
        return adapter.compressed()
    return fold_chunks(strongest_chunks(adapter, chunk_rank, max_chunks), chunk_rank)


def internalize_segments(
    backbone: Backbone,
    hypernet: DocToLoRA,
    segments: Sequence[str],
    *,
    max_rows: Callable[[int], int] | None = None,
    batch_size: int = 8,
    progress: bool = False,
) -> list[LoraAdapter]:
    """One adapter per segment (a short piece of a document, one chunk each), encoded in batches.

    `ParametricMemory` stores a document as such segments, each its own adapter, and routes a
    question to the few that hold its answer: nothing of a long document is summed away or
    dropped, and a question costs a few segments' rows whatever the document's length. Segments
    are encoded ``batch_size`` at a time, sorted by length so padding stays small; every segment
    gets the network's surprise rows (surprise is measured within the segment).

    Args:
        segments: the segments' texts (each validated like a document).
        max_rows: segment tokens -> the most rank rows its adapter may keep (the storage budget,
            `lora_memory.segments.row_budget`); rows are kept in the network's order and rows
            that are exactly zero (surprise rows no token qualified for) are dropped first. None
            keeps every non-zero row. A bias adapter is appended after the cut.

    Returns:
        The segments' adapters, in order, each with ``tokens`` and ``chunks`` (1) in its metadata.
    """
    ids = [document_token_ids(backbone, text) for text in segments]
    order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
    adapters: list[LoraAdapter | None] = [None] * len(ids)
    with torch.no_grad(), tqdm(total=len(ids), desc="internalize", unit="segment", disable=not progress) as bar:
        bias = hypernet.bias_adapter()
        bias_adapter = bias.to_adapter(base_model=backbone.name) if bias is not None else None
        for start in range(0, len(order), batch_size):
            group = order[start : start + batch_size]
            out = hypernet(encode_chunks(backbone, hypernet, [ids[i] for i in group]))
            for row, i in enumerate(group):
                tokens = len(ids[i])
                meta = {"kind": "doc2lora", "arch": hypernet.arch, "tokens": tokens, "chunks": 1}
                adapter = out.to_adapter(row, base_model=backbone.name, metadata=meta)
                adapter = adapter.first_rows(max_rows(tokens) if max_rows is not None else adapter.rank())
                if bias_adapter is not None:
                    adapter = concat_adapters([adapter, bias_adapter], metadata=meta)
                adapters[i] = adapter
            bar.update(len(group))
    return [a for a in adapters if a is not None]
