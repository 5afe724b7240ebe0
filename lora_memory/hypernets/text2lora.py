"""Text-to-LoRA: a task description -> a LoRA for q_proj / v_proj (arXiv 2506.06105, sec. 3).

The description's embedding (L2-normalised, times sqrt(dim), then Linear + LayerNorm to half the
width) is concatenated with learned layer and module embeddings (a quarter width each); a mixer
MLP, two residual MLP blocks and an output MLP feed one linear head per target module that emits
all ranks of A and B at once (the paper's "L" variant). Heads start with zero weights and a bias
equal to a standard LoRA init (A random, B zero), so a fresh network gives an exact no-op for
every description. Scale is rsLoRA's ``alpha / sqrt(r)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from lora_memory.adapter import AdapterBatch, LoraAdapter
from lora_memory.backbone import Backbone, BaseModelIdentity
from lora_memory.config import ConfigMixin
from lora_memory.errors import DocumentError
from lora_memory.hypernets.base import Hypernetwork
from lora_memory.hypernets.encoders import MINILM, encoder_dim, make_encoder
from lora_memory.hypernets.layers import ResidualMLP, kaiming_lora_a


@dataclass
class TextToLoRAConfig(ConfigMixin):
    """Sizes of the Text-to-LoRA network.

    Attributes:
        layers: adapted decoder blocks (empty = the upper half, so training's backward stops halfway).
        modules: adapted modules in every block.
        rank: LoRA rank.
        alpha: rsLoRA alpha; the update is scaled by ``alpha / sqrt(rank)``.
        width: hidden width of the MLP stack (512 upstream; 256 keeps a small checkpoint).
        encoder: description encoder, ``minilm`` or ``backbone`` (last-token state).
        dropout: dropout in the MLP stack (0.05 upstream).
        system_prompt: the system turn the adapters were trained under, so inference builds the
            same prompt ("" = an empty system turn, the leanest prompt; None = the chat
            template's default, ~30 tokens on SmolLM2).
    """

    layers: tuple[int, ...] = ()
    modules: tuple[str, ...] = ("q_proj", "v_proj")
    rank: int = 8
    alpha: float = 16.0
    width: int = 256
    encoder: str = MINILM
    dropout: float = 0.05
    system_prompt: str | None = ""


class TaskHypernetwork(Hypernetwork):
    """What every Text-to-LoRA architecture shares: description embeddings in, one adapter per
    description out; the chat prompt its adapters were trained under."""

    kind = "text2lora"

    @property
    def layers(self) -> tuple[int, ...]:
        return tuple(self.config.layers)

    def prompt(self, backbone: Backbone, text: str) -> list[int]:
        """The chat prompt of an input alone, under the system turn this network was trained with."""
        return backbone.chat_prompt(text, system=self.config.system_prompt)

    def description_text(self, description: str) -> str:
        """The description as the encoder reads it (unchanged here)."""
        return description


class TextToLoRA(TaskHypernetwork):
    arch = "mlp_l"
    config_class = TextToLoRAConfig

    def __init__(self, config: TextToLoRAConfig, identity: BaseModelIdentity):
        super().__init__(config, identity)
        config = self.config
        w, r = config.width, config.rank
        self.scale = config.alpha / math.sqrt(r)
        self.embed_dim = encoder_dim(config.encoder, identity.hidden_size)
        self.task_proj = nn.Sequential(nn.Linear(self.embed_dim, w // 2), nn.LayerNorm(w // 2))
        self.layer_emb = nn.Embedding(len(config.layers), w // 4)
        self.module_emb = nn.Embedding(len(config.modules), w - w // 2 - w // 4)
        self.mixer = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Dropout(config.dropout))
        self.blocks = nn.Sequential(ResidualMLP(w, config.dropout), ResidualMLP(w, config.dropout))
        self.out = nn.Sequential(nn.LayerNorm(w), nn.Linear(w, w), nn.SiLU())
        self.heads = nn.ModuleDict()
        for name in config.modules:
            d_in, d_out = identity.module_shapes[name]
            head = nn.Linear(w, r * d_in + d_out * r)
            # Bias-HyperInit: zero weights, bias = a standard LoRA init (A random, B zero).
            nn.init.zeros_(head.weight)
            with torch.no_grad():
                head.bias.copy_(torch.cat([kaiming_lora_a(r, d_in).flatten(), torch.zeros(d_out * r)]))
            self.heads[name] = head

    def constant_embedding(self, n: int) -> Tensor:
        """The fixed input of a multi-task network: one adapter whatever the task."""
        return torch.ones(n, self.embed_dim, device=next(self.parameters()).device)

    def forward(self, embeddings: Tensor) -> AdapterBatch:
        """Description embeddings ``(b, embed_dim)`` -> one adapter per description."""
        b, n, r = embeddings.shape[0], len(self.layers), self.config.rank
        task = torch.nn.functional.normalize(embeddings.float(), dim=-1) * math.sqrt(self.embed_dim)
        task = self.task_proj(task)  # (b, w/2)
        A: dict[str, Tensor] = {}
        B: dict[str, Tensor] = {}
        for m, name in enumerate(self.config.modules):
            d_in, d_out = self.identity.module_shapes[name]
            x = torch.cat(
                [
                    task.unsqueeze(1).expand(b, n, -1),  # (b, n, w/2)
                    self.layer_emb.weight.unsqueeze(0).expand(b, n, -1),  # (b, n, w/4)
                    self.module_emb.weight[m].expand(b, n, -1),  # (b, n, w/4)
                ],
                dim=-1,
            )
            flat = self.heads[name](self.out(self.blocks(self.mixer(x))))  # (b, n, r*d_in + d_out*r)
            A[name] = flat[..., : r * d_in].reshape(b, n, r, d_in)
            B[name] = flat[..., r * d_in :].reshape(b, n, d_out, r) * self.scale
        return AdapterBatch(A, B, self.layers)


def prompt_ids(backbone: Backbone, net: TaskHypernetwork, text: str, max_tokens: int) -> list[int]:
    """``net``'s chat prompt of the input alone (the task lives in the adapter), its head cut if too long."""
    ids = backbone.tokenize(text)
    if len(ids) > max_tokens:
        text = backbone.tokenizer.decode(ids[-max_tokens:])
    return net.prompt(backbone, text)


def describe_task(backbone: Backbone, hypernet: TaskHypernetwork, description: str) -> LoraAdapter:
    """Generate the adapter for a plain-language task description in one forward pass."""
    if not isinstance(description, str) or not description.strip():
        raise DocumentError("the task description is empty: say in a sentence what the model should do")
    encoder = make_encoder(hypernet.config.encoder, backbone)
    with torch.no_grad():
        batch = hypernet(encoder([hypernet.description_text(description)]).to(backbone.device))
    return batch.to_adapter(
        base_model=backbone.name, metadata={"kind": "text2lora", "arch": hypernet.arch, "description": description}
    )
