"""Building blocks shared by the hypernetworks."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class SwiGLU(nn.Module):
    """``W_out(silu(W_gate x) * W_up x)``: the feed-forward of Llama-style blocks."""

    def __init__(self, d_in: int, d_hidden: int, d_out: int):
        super().__init__()
        self.gate = nn.Linear(d_in, d_hidden, bias=False)
        self.up = nn.Linear(d_in, d_hidden, bias=False)
        self.out = nn.Linear(d_hidden, d_out, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(F.silu(self.gate(x)) * self.up(x))


class CrossAttentionBlock(nn.Module):
    """Perceiver block: latents attend to inputs, then a feed-forward; pre-RMSNorm, residuals.

    Given the same tensor as latents and inputs it is a self-attention block. ``identity_init``
    zeroes both residual branches' output projections, so the new block passes its latents
    through unchanged: a block added to a trained network starts where that network was.
    """

    def __init__(self, dim: int, heads: int, ff_mult: int = 2, identity_init: bool = False):
        super().__init__()
        self.norm_q = nn.RMSNorm(dim)
        self.norm_kv = nn.RMSNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm_ff = nn.RMSNorm(dim)
        self.ff = SwiGLU(dim, ff_mult * dim, dim)
        if identity_init:
            for weight in (self.attn.out_proj.weight, self.attn.out_proj.bias, self.ff.out.weight):
                nn.init.zeros_(weight)

    def forward(self, latents: Tensor, inputs: Tensor, pad_mask: Tensor) -> Tensor:
        """latents ``(b, q, dim)``, inputs ``(b, t, dim)``, pad_mask ``(b, t)`` True on padding."""
        kv = self.norm_kv(inputs)
        latents = latents + self.attn(self.norm_q(latents), kv, kv, key_padding_mask=pad_mask, need_weights=False)[0]
        return latents + self.ff(self.norm_ff(latents))


class ResidualMLP(nn.Module):
    """``x + MLP(LayerNorm(x))`` with SiLU and dropout (Text-to-LoRA's residual blocks)."""

    def __init__(self, dim: int, dropout: float):
        super().__init__()
        self.net = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim * 2), nn.SiLU(), nn.Dropout(dropout), nn.Linear(dim * 2, dim))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.net(x)


def kaiming_lora_a(rank: int, d_in: int, generator: torch.Generator | None = None) -> Tensor:
    """The standard LoRA initialisation of A (PEFT's default: kaiming-uniform, a=sqrt(5))."""
    a = torch.empty(rank, d_in)
    bound = 1.0 / d_in**0.5
    return a.uniform_(-bound, bound, generator=generator)
