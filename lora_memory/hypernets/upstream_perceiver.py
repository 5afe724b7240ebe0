"""Sakana AI's published Doc-to-LoRA network, exactly (arXiv 2602.15902; SakanaAI/doc-to-lora).

Our own `PerceiverDocToLoRA` follows the paper's idea at a size for SmolLM2; this module follows
the released code closely enough that a converted upstream checkpoint (`hypernets.upstream`)
gives the same adapters. What the released network does, per chunk:

* features: the input of every decoder block, the last one through the model's final norm (the
  upstream context encoder is the base model cut before its last block, read with
  ``output_hidden_states``), each projected by a SwiGLU to the latent width;
* layers folded into the batch, an Idefics2-style Perceiver resampler (pre- and post-RMSNorm
  around grouped-query attention and a SwiGLU, cross-attention reading only the tokens,
  self-attention over the latents, a final RMSNorm) compresses the tokens to
  ``n_latent_queries`` latents, and a one-layer decoder resampler reads those into
  ``modules * rank`` latents per layer;
* residual MLP blocks (per layer or shared), L2 normalisation, then one head per layer emits a
  row of A followed by a row of B for every rank, scaled per rank by ``scaler_A`` / ``scaler_B``;
* a chunk is read as upstream's ``tokenize_ctx_text`` writes it: a chat turn (empty system turn,
  the chunk as the user's message, the assistant's turn opened);
* a context-free bias LoRA is appended once per document, after the chunks;
* the update is ``lora_alpha * x A^T B``: alpha applied directly, not divided by the rank.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lora_memory.adapter import AdapterBatch
from lora_memory.backbone import Backbone, BaseModelIdentity
from lora_memory.config import ConfigMixin
from lora_memory.hypernets.doc2lora import ChunkFeatures, DocToLoRA, FeatureRequest
from lora_memory.hypernets.layers import SwiGLU

RMS_EPS = 1e-6


@dataclass
class UpstreamPerceiverConfig(ConfigMixin):
    """The released network's sizes (upstream names in brackets); `hypernets.upstream` fills them.

    Attributes:
        layers: adapted decoder blocks: all of them upstream [layer_indices].
        modules: adapted modules, sorted [lora_config.target_modules]; ``down_proj`` upstream.
        rank: LoRA rank per chunk [lora_config.r].
        lora_alpha: the update's scale, applied directly [lora_config.lora_alpha].
        latent_dim: Perceiver and head width [latent_size].
        n_latent_queries: latents of the encoder resampler [n_latent_queries].
        num_blocks: encoder blocks, each a cross-attention layer [num_blocks].
        num_self_attn_per_block: self-attention layers after each cross-attention [same].
        num_heads: query heads (16, fixed upstream).
        head_dim: width of a head (128, fixed upstream).
        num_kv_heads: key/value heads (4, fixed upstream).
        num_pre_head_layers: residual MLP blocks before the head [num_pre_head_layers].
        per_layer_processing: those blocks hold one set of weights per layer [same].
        use_bias: append the context-free bias LoRA [use_bias].
        chunk_tokens: tokens per chunk at inference.
        chat_chunks: read each chunk inside a chat turn, as upstream trained it.
    """

    layers: tuple[int, ...] = field(default_factory=tuple)
    modules: tuple[str, ...] = ("down_proj",)
    rank: int = 8
    lora_alpha: float = 8.0
    latent_dim: int = 512
    n_latent_queries: int = 8
    num_blocks: int = 9
    num_self_attn_per_block: int = 0
    num_heads: int = 16
    head_dim: int = 128
    num_kv_heads: int = 4
    num_pre_head_layers: int = 4
    per_layer_processing: bool = True
    use_bias: bool = True
    chunk_tokens: int = 512
    chat_chunks: bool = True


class ResamplerLayer(nn.Module):
    """Latents attend (to the tokens, or to themselves); norms before and after attention and MLP."""

    def __init__(self, dim: int, heads: int, head_dim: int, kv_heads: int, cross: bool):
        super().__init__()
        self.heads, self.head_dim, self.kv_heads, self.cross = heads, head_dim, kv_heads, cross
        self.norm_latents = nn.RMSNorm(dim, eps=RMS_EPS)
        self.norm_context = nn.RMSNorm(dim, eps=RMS_EPS) if cross else nn.Identity()
        self.q = nn.Linear(dim, heads * head_dim, bias=False)
        self.k = nn.Linear(dim, kv_heads * head_dim, bias=False)
        self.v = nn.Linear(dim, kv_heads * head_dim, bias=False)
        self.o = nn.Linear(heads * head_dim, dim, bias=False)
        self.norm_post_attn = nn.RMSNorm(dim, eps=RMS_EPS)
        self.norm_pre_ff = nn.RMSNorm(dim, eps=RMS_EPS)
        self.ff = SwiGLU(dim, 4 * dim, dim)
        self.norm_post_ff = nn.RMSNorm(dim, eps=RMS_EPS)

    def forward(self, latents: Tensor, context: Tensor, keep: Tensor | None) -> Tensor:
        """latents ``(b, q, dim)``, context ``(b, t, dim)``, keep ``(b, t)`` True on real tokens."""
        b, q, _ = latents.shape
        x = self.norm_latents(latents)
        kv = self.norm_context(context) if self.cross else x
        t = kv.shape[1]
        query = self.q(x).view(b, q, self.heads, self.head_dim).transpose(1, 2)  # (b, heads, q, hd)
        groups = self.heads // self.kv_heads  # query head h reads key/value head h // groups
        key = self.k(kv).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2).repeat_interleave(groups, dim=1)
        value = self.v(kv).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2).repeat_interleave(groups, dim=1)
        mask = keep[:, None, None, :] if (self.cross and keep is not None) else None  # (b, 1, 1, t)
        att = F.scaled_dot_product_attention(query, key, value, attn_mask=mask)  # (b, heads, q, hd)
        att = self.o(att.transpose(1, 2).reshape(b, q, self.heads * self.head_dim))
        latents = latents + self.norm_post_attn(att)
        return latents + self.norm_post_ff(self.ff(self.norm_pre_ff(latents)))


class Resampler(nn.Module):
    """``n_latents`` learned queries; each block is one cross-attention then self-attention layers."""

    def __init__(self, config: UpstreamPerceiverConfig, n_latents: int, blocks: int, self_per_block: int):
        super().__init__()
        c = config
        self.latents = nn.Parameter(torch.randn(n_latents, c.latent_dim))  # (n_latents, dim)
        self.layers = nn.ModuleList(
            ResamplerLayer(c.latent_dim, c.num_heads, c.head_dim, c.num_kv_heads, cross=i % (1 + self_per_block) == 0)
            for i in range(blocks * (1 + self_per_block))
        )
        self.norm = nn.RMSNorm(c.latent_dim, eps=RMS_EPS)

    def forward(self, context: Tensor, keep: Tensor | None) -> Tensor:
        latents = self.latents.unsqueeze(0).expand(context.shape[0], -1, -1)  # (b, n_latents, dim)
        for layer in self.layers:
            latents = layer(latents, context, keep)
        return self.norm(latents)


class PreHeadBlock(nn.Module):
    """``x + LN(W2 silu(W1 LN(x)))``, with one (W1, W2) per layer or one shared by all."""

    def __init__(self, layers: int, dim: int):
        super().__init__()
        self.norm_in = nn.LayerNorm(dim)
        self.w1 = nn.Parameter(torch.randn(layers, dim, 4 * dim) / dim**0.5)  # (layers or 1, dim, 4 dim)
        self.b1 = nn.Parameter(torch.zeros(layers, 4 * dim))
        self.w2 = nn.Parameter(torch.randn(layers, 4 * dim, dim) / (4 * dim) ** 0.5)  # (layers or 1, 4 dim, dim)
        self.b2 = nn.Parameter(torch.zeros(layers, dim))
        self.norm_out = nn.LayerNorm(dim)

    def forward(self, x: Tensor) -> Tensor:
        """x ``(b, layers, modules, rank, dim)``; a single weight set broadcasts over the layers."""
        h = torch.einsum("bnmrd,nde->bnmre", self.norm_in(x), self.w1.expand(x.shape[1], -1, -1))
        h = F.silu(h + self.b1[None, :, None, None])
        h = torch.einsum("bnmre,ned->bnmrd", h, self.w2.expand(x.shape[1], -1, -1)) + self.b2[None, :, None, None]
        return x + self.norm_out(h)


class UpstreamPerceiverDocToLoRA(DocToLoRA):
    arch = "upstream_perceiver"
    config_class = UpstreamPerceiverConfig

    def __init__(self, config: UpstreamPerceiverConfig, identity: BaseModelIdentity):
        if not config.layers:  # upstream adapts every block, not the upper half
            config = dataclasses.replace(config, layers=tuple(range(identity.num_layers)))
        super().__init__(config, identity)
        c = self.config
        n, m, r, dim = len(c.layers), len(c.modules), c.rank, c.latent_dim
        self.shapes = {name: tuple(identity.module_shapes[name]) for name in c.modules}  # name -> (d_in, d_out)
        d_lora = max(d_in + d_out for d_in, d_out in self.shapes.values())
        self.project = SwiGLU(identity.hidden_size, 4 * identity.hidden_size, dim)
        self.encoder = Resampler(c, c.n_latent_queries, c.num_blocks, c.num_self_attn_per_block)
        self.decoder = Resampler(c, m * r, 1, 0)
        self.pre_head = nn.ModuleList(PreHeadBlock(n if c.per_layer_processing else 1, dim)
                                      for _ in range(c.num_pre_head_layers))
        self.head = nn.Parameter(torch.randn(n, m, dim, d_lora) * 0.5 / (dim + d_lora * r) ** 0.5)
        self.scaler_a = nn.Parameter(torch.ones(m, n, r))
        self.scaler_b = nn.Parameter(torch.zeros(m, n, r))  # B starts at zero: a fresh network is a no-op
        self.bias_a = nn.ParameterDict({k: nn.Parameter(torch.randn(n, r, d_in) * 0.2 / (d_in * r) ** 0.5)
                                        for k, (d_in, _) in self.shapes.items()})
        self.bias_b = nn.ParameterDict({k: nn.Parameter(torch.zeros(n, r, d_out)) for k, (_, d_out) in self.shapes.items()})

    @property
    def target(self) -> str:
        return self.config.modules[0]

    def chunk_prompt(self, backbone: Backbone, ids: Sequence[int]) -> list[int]:
        if not self.config.chat_chunks:
            return list(ids)
        from jinja2 import TemplateError  # what chat templates raise; jinja2 comes with them

        text = backbone.tokenizer.decode(list(ids)).strip()
        try:
            return backbone.chat_prompt(text, system="")
        except TemplateError:  # a template without a system turn (gemma's own): the chunk alone in the user turn
            return backbone.chat_prompt(text)

    def feature_request(self) -> FeatureRequest:
        *inner, last = self.layers
        return FeatureRequest(blocks=frozenset(inner), normed_blocks=frozenset({last}))

    def forward(self, features: ChunkFeatures) -> AdapterBatch:
        *inner, last = self.layers
        per_layer = [features.block_inputs[layer] for layer in inner] + [features.normed_block_inputs[last]]
        x = torch.stack(per_layer, dim=1).float()  # (b, n, t, hidden)
        b, n, t, h = x.shape
        m, r = len(self.config.modules), self.config.rank
        keep = features.mask.bool().repeat_interleave(n, dim=0)  # (b*n, t)
        tokens = self.project(x.reshape(b * n, t, h))  # (b*n, t, dim)
        latents = self.decoder(self.encoder(tokens, keep), None)  # (b*n, m*r, dim)
        latents = latents.view(b, n, m, r, -1)  # (b, n, m, r, dim)
        for block in self.pre_head:
            latents = block(latents)
        latents = latents / latents.norm(dim=-1, keepdim=True)
        flat = torch.einsum("bnmrd,nmde->bnmre", latents, self.head)  # (b, n, m, r, d_lora)
        A, B = {}, {}
        for i, (name, (d_in, d_out)) in enumerate(self.shapes.items()):
            A[name] = flat[:, :, i, :, :d_in] * self.scaler_a[i, :, :, None]  # (b, n, r, d_in)
            rows = flat[:, :, i, :, d_in : d_in + d_out] * self.scaler_b[i, :, :, None]  # (b, n, r, d_out)
            B[name] = rows.transpose(-1, -2) * self.config.lora_alpha  # (b, n, d_out, r)
        return AdapterBatch(A, B, self.layers)

    def bias_adapter(self) -> AdapterBatch | None:
        if not self.config.use_bias:
            return None
        return AdapterBatch(
            {k: a.unsqueeze(0) for k, a in self.bias_a.items()},  # (1, n, r, d_in)
            {k: (b.transpose(-1, -2) * self.config.lora_alpha).unsqueeze(0) for k, b in self.bias_b.items()},
            self.layers,
        )
