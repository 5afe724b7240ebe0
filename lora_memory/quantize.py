"""A compressed adapter form: int8 with one scale per rank vector.

Each rank row of A (length ``d_in``) and each rank column of B (length ``d_out``) is stored as
int8 with its own fp16 absmax scale, so a rank component that is small overall keeps its
precision. The store writes it (``precision="int8"``); the benchmark measures its bytes and logit
change, and ``lora-memory eval doc2lora`` its NIAH and fact-QA accuracy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from lora_memory.adapter import AdapterBatch, LoraAdapter
from lora_memory.backbone import Backbone


@dataclass(frozen=True)
class Int8Rows:
    """Symmetric int8 rows ``q`` (..., n) with fp16 scales (..., 1): ``x ~= q * scale``."""

    q: Tensor
    scale: Tensor

    @property
    def nbytes(self) -> int:
        return self.q.numel() * self.q.element_size() + self.scale.numel() * self.scale.element_size()


def quantize_rows(x: Tensor) -> Int8Rows:
    """Per-row (last dim) absmax int8 quantisation."""
    x = x.detach().float()
    scale = x.abs().amax(dim=-1, keepdim=True).clamp(min=1e-12) / 127.0
    q = torch.round(x / scale).clamp_(-127, 127).to(torch.int8)
    return Int8Rows(q, scale.to(torch.float16))


def dequantize_rows(rows: Int8Rows) -> Tensor:
    return rows.q.float() * rows.scale.float()


@dataclass(frozen=True)
class QuantizedAdapter:
    """An adapter with A quantised per rank row and B per rank column."""

    A: dict[str, Int8Rows]
    B_t: dict[str, Int8Rows]  # B transposed: (layers, rank, d_out)
    like: LoraAdapter

    @property
    def nbytes(self) -> int:
        return sum(r.nbytes for r in (*self.A.values(), *self.B_t.values()))


def quantize_adapter(adapter: LoraAdapter) -> QuantizedAdapter:
    return QuantizedAdapter(
        A={m: quantize_rows(a) for m, a in adapter.A.items()},
        B_t={m: quantize_rows(b.transpose(-1, -2)) for m, b in adapter.B.items()},
        like=adapter,
    )


def dequantize_adapter(qa: QuantizedAdapter) -> LoraAdapter:
    like = qa.like
    return LoraAdapter(
        A={m: dequantize_rows(r) for m, r in qa.A.items()},
        B={m: dequantize_rows(r).transpose(-1, -2).contiguous() for m, r in qa.B_t.items()},
        layers=like.layers,
        scale=like.scale,
        base_model=like.base_model,
        metadata=dict(like.metadata),
    )


def fp16_roundtrip(adapter: LoraAdapter) -> LoraAdapter:
    return adapter.to(dtype=torch.float16).to(dtype=torch.float32)


def logit_change(
    backbone: Backbone, reference: LoraAdapter, approx: LoraAdapter, prompts: Sequence[Sequence[int]]
) -> dict[str, float | bool]:
    """How far ``approx`` moves the logits from ``reference`` on ``prompts``.

    Returns:
        ``max_rel_logits``: max |logits_approx - logits_ref| / max |logits_ref| (per prompt, worst);
        ``max_rel_effect``: the same change relative to the adapter's own effect on the logits,
        max |logits_ref - logits_base| (infinite when the reference adapter changes nothing
        and the approximation does; 0 when both change nothing);
        ``argmax_agree``: the next-token choice is the same at every position.
    """
    worst_rel, worst_effect, agree = 0.0, 0.0, True
    for p in prompts:
        ids, mask = backbone.pad([p])
        with torch.no_grad():
            base = backbone.forward_logits(ids, mask).float()
            ref = backbone.forward_logits(ids, mask, AdapterBatch.stack([reference]).to(backbone.device)).float()
            new = backbone.forward_logits(ids, mask, AdapterBatch.stack([approx]).to(backbone.device)).float()
        diff = (new - ref).abs().max().item()
        effect = (ref - base).abs().max().item()
        worst_rel = max(worst_rel, diff / max(ref.abs().max().item(), 1e-12))
        worst_effect = max(worst_effect, diff / effect if effect > 0 else (0.0 if diff == 0 else float("inf")))
        agree &= bool((new.argmax(-1) == ref.argmax(-1)).all())
    return {"max_rel_logits": worst_rel, "max_rel_effect": worst_effect, "argmax_agree": agree}
