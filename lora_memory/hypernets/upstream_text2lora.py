"""Sakana AI's published Text-to-LoRA network, exactly (arXiv 2506.06105; SakanaAI/text-to-lora).

Our own `TextToLoRA` follows the paper's "L" variant at a size for SmolLM2; this module follows
the released ``HyperModulator`` (linear task encoder, ``sft`` training, one head per module
emitting every rank at once) so that a converted ``hypermod.pt`` gives the same adapters:

* the description embedding, L2-normalised times ``sqrt(dim)``, goes through Linear + LayerNorm
  to ``latent_size / 2``; learned layer-depth and module-type embeddings (each an Embedding then a
  LayerNorm, ``latent_size / 4``) are concatenated after it, in that order;
* a mixer MLP (4x, SiLU, SiLU), two residual MLP blocks (LayerNorm, 4x, SiLU, SiLU), and an output
  MLP (LayerNorm, 4x, SiLU, to ``head_in_size``, SiLU) feed the module's head, whose output is A's
  ``r * d_in`` values then B's ``r * d_out`` values (B stored as ``(r, d_out)``, transposed);
* a fixed offset (``AB_offset``, zero unless trained from a multi-task LoRA) is added;
* the scale is PEFT's: ``lora_alpha / r``, or ``lora_alpha / sqrt(r)`` with rsLoRA;
* the description ends with a full stop before it is embedded (upstream's ``add_full_stop``).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lora_memory.adapter import AdapterBatch
from lora_memory.backbone import BaseModelIdentity
from lora_memory.config import ConfigMixin
from lora_memory.hypernets.encoders import BACKBONE_SPECIAL, encoder_dim
from lora_memory.hypernets.text2lora import TaskHypernetwork


@dataclass
class UpstreamTextToLoRAConfig(ConfigMixin):
    """The released network's sizes (upstream names in brackets); `hypernets.upstream` fills them.

    Attributes:
        layers: adapted decoder blocks: all of them upstream.
        modules: adapted modules, in the order of the module-type embedding [target_modules].
        rank: LoRA rank [r].
        lora_alpha: PEFT's alpha [lora_alpha].
        use_rslora: scale by ``alpha / sqrt(r)`` instead of ``alpha / r`` [use_rslora].
        latent_size: width of the MLP stack [hypernet_latent_size].
        head_in_size: width of the heads' input [head_in_size].
        head_use_bias: the heads have a bias (bias-HyperInit) [head_use_bias].
        encoder: description encoder; ``backbone_special`` is upstream's default (the base model's
            last token, special tokens included); a ``gte-large-en-v1.5`` network records that name,
            which lora-memory does not load yet.
        embed_dim: width of the description embedding (None = the encoder's own).
        system_prompt: the system turn of the prompts (None = the chat template's default).
    """

    layers: tuple[int, ...] = field(default_factory=tuple)
    modules: tuple[str, ...] = ("q_proj", "v_proj")
    rank: int = 8
    lora_alpha: float = 16.0
    use_rslora: bool = False
    latent_size: int = 128
    head_in_size: int = 512
    head_use_bias: bool = True
    encoder: str = BACKBONE_SPECIAL
    embed_dim: int | None = None
    system_prompt: str | None = None


def _mlp(d_in: int, d_hidden: int, d_out: int, norm: bool) -> nn.Sequential:
    """``[LayerNorm] Linear SiLU Linear SiLU``: the blocks of the released network (dropout dropped: inference)."""
    return nn.Sequential(*([nn.LayerNorm(d_in)] if norm else []), nn.Linear(d_in, d_hidden), nn.SiLU(),
                         nn.Linear(d_hidden, d_out), nn.SiLU())


class UpstreamTextToLoRA(TaskHypernetwork):
    arch = "upstream_mlp"
    config_class = UpstreamTextToLoRAConfig

    def __init__(self, config: UpstreamTextToLoRAConfig, identity: BaseModelIdentity):
        if not config.layers:  # upstream adapts every block
            config = dataclasses.replace(config, layers=tuple(range(identity.num_layers)))
        super().__init__(config, identity)
        c = self.config
        n, r, width = len(c.layers), c.rank, c.latent_size
        self.scale = c.lora_alpha / (math.sqrt(r) if c.use_rslora else r)
        self.embed_dim = c.embed_dim or encoder_dim(c.encoder, identity.hidden_size)
        self.task_proj = nn.Sequential(nn.Linear(self.embed_dim, width // 2), nn.LayerNorm(width // 2))
        self.layer_emb = nn.Sequential(nn.Embedding(n, width // 4), nn.LayerNorm(width // 4))
        self.module_emb = nn.Sequential(nn.Embedding(len(c.modules), width // 4), nn.LayerNorm(width // 4))
        mixed = width // 2 + 2 * (width // 4)
        self.mixer = _mlp(mixed, 4 * mixed, mixed, norm=False)
        self.blocks = nn.ModuleList(_mlp(mixed, 4 * mixed, mixed, norm=True) for _ in range(2))  # residual
        self.out = _mlp(mixed, 4 * mixed, c.head_in_size, norm=True)
        self.shapes = {m: tuple(identity.module_shapes[m]) for m in c.modules}  # name -> (d_in, d_out)
        self.heads = nn.ModuleDict({m: nn.Linear(c.head_in_size, r * (d_in + d_out), bias=c.head_use_bias)
                                    for m, (d_in, d_out) in self.shapes.items()})
        self.offset_a = nn.ParameterDict({m: nn.Parameter(torch.zeros(n, r, d_in)) for m, (d_in, _) in self.shapes.items()})
        self.offset_b = nn.ParameterDict({m: nn.Parameter(torch.zeros(n, d_out, r)) for m, (_, d_out) in self.shapes.items()})

    def description_text(self, description: str) -> str:
        text = description.strip()
        return text + "." if text[-1:].isalpha() else text

    def forward(self, embeddings: Tensor) -> AdapterBatch:
        """Description embeddings ``(b, embed_dim)`` -> one adapter per description."""
        b, n, r = embeddings.shape[0], len(self.layers), self.config.rank
        task = F.normalize(embeddings.float(), dim=-1) * math.sqrt(embeddings.shape[-1])
        task = self.task_proj(task)  # (b, w/2)
        depth = self.layer_emb(torch.arange(n, device=task.device))  # (n, w/4)
        A, B = {}, {}
        for m, (name, (d_in, d_out)) in enumerate(self.shapes.items()):
            kind = self.module_emb(torch.tensor([m], device=task.device))  # (1, w/4)
            x = torch.cat([task.unsqueeze(1).expand(b, n, -1), depth.expand(b, n, -1), kind.expand(b, n, -1)], dim=-1)
            x = self.mixer(x)
            for block in self.blocks:
                x = x + block(x)
            flat = self.heads[name](self.out(x))  # (b, n, r * (d_in + d_out))
            A[name] = flat[..., : r * d_in].reshape(b, n, r, d_in) + self.offset_a[name]
            rows = flat[..., r * d_in :].reshape(b, n, r, d_out).transpose(-1, -2)  # (b, n, d_out, r)
            B[name] = (rows + self.offset_b[name]) * self.scale
        return AdapterBatch(A, B, self.layers)
