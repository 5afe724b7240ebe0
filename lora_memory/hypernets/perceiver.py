"""Upstream-style Doc-to-LoRA: a Perceiver over per-layer activations (arXiv 2602.15902, sec. 3).

Token features of layer l (the input to decoder block l, or of one early-exit layer for all) are
projected by a SwiGLU into the latent width; ``rank`` learned latent queries per layer read them
through cross-attention blocks (layers folded into the batch, so one Perceiver serves all);
each latent is L2-normalised and a per-layer head emits one row of A and one column of B. A
per-rank scaler on B starts at zero (a fresh network is an exact no-op), and a context-free
"bias LoRA" is appended once per document. Scale is ``alpha = 2 * r**1.5`` applied directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from lora_memory.adapter import AdapterBatch
from lora_memory.backbone import BaseModelIdentity
from lora_memory.config import ConfigMixin
from lora_memory.hypernets.doc2lora import ChunkFeatures, DocToLoRA, FeatureRequest
from lora_memory.hypernets.layers import CrossAttentionBlock, SwiGLU, kaiming_lora_a


@dataclass
class PerceiverConfig(ConfigMixin):
    """Sizes of the Perceiver network (defaults keep a checkpoint of SmolLM2-135M under 40 MB).

    Attributes:
        layers: adapted decoder blocks (empty = the upper half).
        rank: latents per layer = LoRA rank per chunk.
        latent_dim: Perceiver width (512 upstream; 192 keeps the per-layer heads small).
        num_blocks: cross-attention blocks.
        num_heads: attention heads per block.
        feature_layer: None reads block l's input for layer l; an int reads that one early-exit
            layer for every adapted layer (cheaper context encoding).
        target: adapted module (``down_proj`` upstream).
        chunk_tokens: tokens per chunk at inference.
        b_scale_init: start of the per-layer, per-rank B scalers (0 = a fresh network is a no-op).
    """

    layers: tuple[int, ...] = field(default_factory=tuple)
    rank: int = 8
    latent_dim: int = 192
    num_blocks: int = 2
    num_heads: int = 4
    feature_layer: int | None = None
    target: str = "down_proj"
    chunk_tokens: int = 512
    b_scale_init: float = 0.0


class PerceiverDocToLoRA(DocToLoRA):
    arch = "perceiver"
    config_class = PerceiverConfig

    def __init__(self, config: PerceiverConfig, identity: BaseModelIdentity):
        super().__init__(config, identity)
        config = self.config
        d_in, d_out = identity.module_shapes[config.target]
        n, r, dim = len(config.layers), config.rank, config.latent_dim
        self.scale = 2.0 * r**1.5
        self.project = SwiGLU(identity.hidden_size, 2 * dim, dim)
        self.latents = nn.Parameter(torch.randn(n, r, dim) * 0.02)  # (layers, rank, dim)
        self.blocks = nn.ModuleList(CrossAttentionBlock(dim, config.num_heads) for _ in range(config.num_blocks))
        self.head_a = nn.Parameter(torch.randn(n, dim, d_in) / dim**0.5)  # (layers, dim, d_in)
        self.head_b = nn.Parameter(torch.randn(n, dim, d_out) / dim**0.5)  # (layers, dim, d_out)
        # B's per-rank scaler starts at zero: the first step is the unchanged base model.
        self.b_scaler = nn.Parameter(torch.full((n, r), float(config.b_scale_init)))
        self.bias_a = nn.Parameter(torch.stack([kaiming_lora_a(r, d_in) for _ in range(n)]))
        self.bias_b = nn.Parameter(torch.zeros(n, d_out, r))

    def _feature_layers(self) -> list[int]:
        fl = self.config.feature_layer
        return [fl] * len(self.layers) if fl is not None else list(self.layers)

    def feature_request(self) -> FeatureRequest:
        return FeatureRequest(blocks=frozenset(self._feature_layers()))

    def forward(self, features: ChunkFeatures) -> AdapterBatch:
        n, r = len(self.layers), self.config.rank
        x = torch.stack([features.block_inputs[fl].float() for fl in self._feature_layers()], dim=1)  # (b, n, t, h)
        b, _, t, h = x.shape
        tokens = self.project(x.reshape(b * n, t, h))  # (b*n, t, dim)
        pad = ~features.mask.bool().repeat_interleave(n, dim=0)  # (b*n, t)
        latents = self.latents.repeat(b, 1, 1)  # (b*n, r, dim), layers folded into the batch
        for block in self.blocks:
            latents = block(latents, tokens, pad)
        latents = F.normalize(latents, dim=-1).reshape(b, n, r, -1)  # (b, n, r, dim)
        A = torch.einsum("bnrd,ndi->bnri", latents, self.head_a)  # (b, n, r, d_in)
        B = torch.einsum("bnrd,ndo->bnor", latents, self.head_b)  # (b, n, d_out, r)
        B = B * (self.b_scaler * self.scale).unsqueeze(0).unsqueeze(2)
        return AdapterBatch({self.target: A}, {self.target: B}, self.layers)

    def bias_adapter(self) -> AdapterBatch:
        return AdapterBatch(
            {self.target: self.bias_a.unsqueeze(0)},  # (1, n, r, d_in)
            {self.target: (self.bias_b * self.scale).unsqueeze(0)},  # (1, n, d_out, r)
            self.layers,
        )
