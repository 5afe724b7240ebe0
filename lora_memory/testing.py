"""Tiny random models for tests: a Llama with a real byte-level BPE tokenizer, built in seconds.

Used by the core test suite and by the integration packages' tests, which is why it lives in
the package (as ``transformers.testing_utils`` does) rather than in one test folder.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import sys
import types
from pathlib import Path
from typing import Any

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from lora_memory.adapter import LoraAdapter
from lora_memory.backbone import Backbone

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "The special magic number is 4821. The grass is green. The sky is blue.",
    "Ada Quill lives in Port Verin and works as a glassblower; her cat is called Miso.",
    "What is the special magic number? Reply with only the number.",
    "Summarise the review in one word: positive or negative.",
] * 4


@functools.lru_cache(maxsize=1)
def tiny_tokenizer() -> PreTrainedTokenizerFast:
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS, trainer)
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        chat_template=CHAT_TEMPLATE,
    )


def make_tiny_backbone(name: str = "tiny-llama", layers: int = 4, hidden: int = 32, seed: int = 0) -> Backbone:
    """A random 4-block Llama of width 32; real shapes, real tokenizer, no download."""
    tokenizer = tiny_tokenizer()
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).float()
    return Backbone(model, tokenizer, name=name)


def random_adapter(
    backbone: Backbone,
    modules: tuple[str, ...] = ("down_proj",),
    layers: tuple[int, ...] | None = None,
    rank: int = 4,
    scale: float = 1.0,
    seed: int = 0,
    magnitude: float = 0.5,
) -> LoraAdapter:
    """An adapter with random A and B (nonzero), large enough to change logits visibly."""
    g = torch.Generator().manual_seed(seed)
    layers = tuple(range(backbone.num_layers)) if layers is None else layers
    A, B = {}, {}
    for m in modules:
        d_in, d_out = backbone.module_shape(m)
        A[m] = torch.randn(len(layers), rank, d_in, generator=g) * magnitude
        B[m] = torch.randn(len(layers), d_out, rank, generator=g) * magnitude
    return LoraAdapter(A, B, layers, scale=scale, base_model=backbone.name)


def lively_backbone() -> Backbone:
    """The tiny Llama with its block weights scaled up: a random model whose output depends on
    its input (at init scale it repeats the prompt's last token whatever the adapter)."""
    backbone = make_tiny_backbone(name="tiny-lively")
    with torch.no_grad():
        for name, p in backbone.model.named_parameters():
            if ".layers." in name and p.dim() == 2:
                p.mul_(5)
    return backbone


def lively_doc2lora(backbone: Backbone):
    """A fresh fast-weight network whose B scale is nonzero, so its adapters change answers."""
    from lora_memory.hypernets import fresh

    net = fresh("doc2lora", backbone, chunk_tokens=64)
    with torch.no_grad():
        net.b_scale.fill_(4.0)  # a fresh network's B is zero: adapters would change nothing
    return net


def lively_text2lora(backbone: Backbone):
    """A fresh Text-to-LoRA network (backbone encoder) whose heads are random, so its adapters change answers."""
    from lora_memory.hypernets import fresh

    net = fresh("text2lora", backbone, encoder="backbone")
    with torch.no_grad():
        for head in net.heads.values():
            head.weight.normal_(std=0.05)  # a fresh network's B is zero: adapters would change nothing
    return net


def untied_backbone() -> Backbone:
    """The tiny backbone with an untied random output head.

    With tied random embeddings the model echoes its last input token, a newline, so every answer
    strips to ""; an untied head makes it emit varied text that streaming tests can compare.
    """
    backbone = make_tiny_backbone()
    torch.manual_seed(0)
    backbone.model.lm_head.weight = torch.nn.Parameter(torch.randn_like(backbone.model.lm_head.weight))
    return backbone


# ---- upstream (Sakana AI) checkpoints, for the converter's tests and the smoke experiment ---------
_UPSTREAM_CLASSES = {
    "hypernet": "ctx_to_lora.modeling.hypernet.HypernetConfig",
    "aggregator": "ctx_to_lora.modeling.aggregator.AggregatorConfig",
    "lora": "peft.tuners.lora.config.LoraConfig",
    "ctx": "ctx_to_lora.configs.CtxEncoderArguments",
}


@contextlib.contextmanager
def _upstream_classes():
    """Stand-ins for the upstream config dataclasses, importable under their upstream names while
    pickling (pickle writes a class by module and name), removed afterwards."""
    added: list[str] = []
    classes = {}
    try:
        for role, qualname in _UPSTREAM_CLASSES.items():
            module_name, name = qualname.rsplit(".", 1)
            parts = module_name.split(".")
            for depth in range(1, len(parts) + 1):  # pickle imports the parents too
                prefix = ".".join(parts[:depth])
                if prefix not in sys.modules:
                    sys.modules[prefix] = types.ModuleType(prefix)
                    added.append(prefix)
            cls = type(name, (), {"__module__": module_name})
            setattr(sys.modules[module_name], name, cls)
            classes[role] = cls
        yield classes
    finally:
        for module_name in added:
            del sys.modules[module_name]


def write_upstream_doc2lora(
    path: str | os.PathLike, base_name: str, tensors: dict[str, torch.Tensor], *, hypernet: dict[str, Any],
    aggregator: dict[str, Any], lora: dict[str, Any], ctx: dict[str, Any] | None = None,
) -> Path:
    """A file laid out as upstream's ``pytorch_model.bin`` (``torch.save`` of the hypernetwork's
    state dict plus the base model's name and the pickled config dataclasses)."""
    with _upstream_classes() as cls:
        def record(role: str, fields: dict[str, Any]) -> Any:
            obj = cls[role]()
            obj.__dict__.update(fields)
            return obj

        hyper = record("hypernet", {**hypernet, "aggregator_config": record("aggregator", aggregator),
                                    "lora_config": record("lora", lora)})
        ctx_args = record("ctx", ctx or {"ctx_encoder_model_name_or_path": None,
                                         "ctx_encoder_type": "per_layer_activations", "ctx_encoder_last_layer": None})
        torch.save({**tensors, "base_model_name_or_path": base_name, "hypernet_config": hyper,
                    "ctx_encoder_args": ctx_args}, str(path))
    return Path(path)


def upstream_doc2lora_shapes(
    backbone: Backbone, modules: tuple[str, ...], rank: int, latent: int, n_latent_queries: int, num_blocks: int,
    num_self_attn_per_block: int, num_pre_head_layers: int, per_layer_processing: bool,
) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes of an upstream Doc-to-LoRA network for ``backbone``."""
    h, n, q, kv = backbone.hidden_size, backbone.num_layers, 16 * 128, 4 * 128
    shapes: dict[str, tuple[int, ...]] = {}
    pre = "aggregator.perceiver."
    shapes |= {pre + "modality_projection.gate_proj.weight": (4 * h, h),
               pre + "modality_projection.up_proj.weight": (4 * h, h),
               pre + "modality_projection.down_proj.weight": (latent, 4 * h)}
    for part, latents, count in (("encoder", n_latent_queries, num_blocks * (1 + num_self_attn_per_block)),
                                 ("decoder", len(modules) * rank, 1)):
        shapes[f"{pre}{part}.latents_q"] = (latents, latent)
        shapes[f"{pre}{part}.layernorm.weight"] = (latent,)
        for i in range(count):
            layer = f"{pre}{part}.layers.{i}."
            norms = ["input_latents_layernorm", "post_attention_layernorm", "pre_ff_layernorm", "post_ff_layernorm"]
            if i % (1 + (num_self_attn_per_block if part == "encoder" else 0)) == 0:
                norms.append("input_context_layernorm")
            shapes |= {f"{layer}{norm}.weight": (latent,) for norm in norms}
            shapes |= {f"{layer}self_attn.q_proj.weight": (q, latent), f"{layer}self_attn.k_proj.weight": (kv, latent),
                       f"{layer}self_attn.v_proj.weight": (kv, latent), f"{layer}self_attn.o_proj.weight": (latent, q),
                       f"{layer}mlp.gate_proj.weight": (4 * latent, latent), f"{layer}mlp.up_proj.weight": (4 * latent, latent),
                       f"{layer}mlp.down_proj.weight": (latent, 4 * latent)}
    for i in range(num_pre_head_layers):
        if per_layer_processing:
            shapes |= {f"layers.{i}.layers.0.weight": (latent,), f"layers.{i}.layers.0.bias": (latent,),
                       f"layers.{i}.layers.1.weight": (n, latent, 4 * latent), f"layers.{i}.layers.1.bias": (n, 4 * latent),
                       f"layers.{i}.layers.3.weight": (n, 4 * latent, latent), f"layers.{i}.layers.3.bias": (n, latent),
                       f"layers.{i}.layers.4.weight": (latent,), f"layers.{i}.layers.4.bias": (latent,)}
        else:
            shapes |= {f"layers.{i}.mlp.0.weight": (latent,), f"layers.{i}.mlp.0.bias": (latent,),
                       f"layers.{i}.mlp.2.weight": (4 * latent, latent), f"layers.{i}.mlp.2.bias": (4 * latent,),
                       f"layers.{i}.mlp.5.weight": (latent, 4 * latent), f"layers.{i}.mlp.5.bias": (latent,),
                       f"layers.{i}.mlp.6.weight": (latent,), f"layers.{i}.mlp.6.bias": (latent,)}
    d_lora = max(sum(backbone.module_shape(m)) for m in modules)
    shapes["head.weight"] = (n, latent, d_lora) if len(modules) == 1 else (n, len(modules), latent, d_lora)
    for m in modules:
        d_in, d_out = backbone.module_shape(m)
        shapes |= {f"bias_A.{m}": (n, rank, d_in), f"bias_B.{m}": (n, rank, d_out),
                   f"scaler_A.{m}": (1, n, rank, 1), f"scaler_B.{m}": (1, n, rank, 1)}
    return shapes


def random_upstream_doc2lora(
    path: str | os.PathLike, backbone: Backbone, *, seed: int = 0, modules: tuple[str, ...] = ("down_proj",),
    rank: int = 2, latent: int = 8, n_latent_queries: int = 4, num_blocks: int = 2, num_self_attn_per_block: int = 0,
    num_pre_head_layers: int = 1, per_layer_processing: bool = True, lora_alpha: float = 4.0,
) -> Path:
    """A random-weight upstream Doc-to-LoRA file for ``backbone`` (norm weights one, scalers one,
    so its adapters are not zero), laid out as a published checkpoint."""
    shapes = upstream_doc2lora_shapes(backbone, modules, rank, latent, n_latent_queries, num_blocks,
                                      num_self_attn_per_block, num_pre_head_layers, per_layer_processing)
    g = torch.Generator().manual_seed(seed)
    tensors = {}
    for key, shape in shapes.items():
        one = "layernorm" in key or "scaler" in key or re.search(r"layers\.\d+\.(layers\.[04]|mlp\.[06])\.weight$", key)
        tensors[key] = torch.ones(shape) if one else torch.randn(shape, generator=g) * 0.2
    d_in = {m: backbone.module_shape(m)[0] for m in modules}
    d_out = {m: backbone.module_shape(m)[1] for m in modules}
    return write_upstream_doc2lora(
        path, backbone.name, tensors,
        hypernet={"latent_size": latent, "per_rank_gen": True, "use_bias": True, "per_layer_processing": per_layer_processing,
                  "num_pre_head_layers": num_pre_head_layers, "extra_modules": None, "dropout_rate": 0.0,
                  "base_hidden_size": backbone.hidden_size, "layer_indices": torch.arange(backbone.num_layers),
                  "feature_sizes": (d_in, d_out)},
        aggregator={"aggregator_type": "perceiver", "layer_to_layer_ctx_encoder": True, "n_latent_queries": n_latent_queries,
                    "num_blocks": num_blocks, "num_self_attn_per_block": num_self_attn_per_block, "shared_weights": False,
                    "feature_size": backbone.hidden_size, "num_layers": backbone.num_layers},
        lora={"r": rank, "lora_alpha": lora_alpha, "target_modules": set(modules), "lora_dropout": 0.0},
    )


def write_upstream_text2lora(
    folder: str | os.PathLike, tensors: dict[str, torch.Tensor], args: dict[str, Any], adapter_config: dict[str, Any]
) -> Path:
    """A folder laid out as an upstream Text-to-LoRA run: ``hypermod.pt`` (``torch.save`` of the
    state dict), ``args.yaml`` and ``adapter_config.json``; returns the ``hypermod.pt`` path."""
    import json

    import yaml

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(dict(tensors), str(folder / "hypermod.pt"))
    (folder / "args.yaml").write_text(yaml.safe_dump(args), encoding="utf-8")
    (folder / "adapter_config.json").write_text(json.dumps(adapter_config), encoding="utf-8")
    return folder / "hypermod.pt"


def random_upstream_text2lora(
    folder: str | os.PathLike, backbone: Backbone, *, seed: int = 0, modules: tuple[str, ...] = ("q_proj", "v_proj"),
    rank: int = 2, latent: int = 16, head_in: int = 32, lora_alpha: float = 4.0,
) -> Path:
    """A random-weight upstream Text-to-LoRA run for ``backbone`` whose descriptions are embedded
    by the base model itself (upstream's default without ``emb_model``)."""
    n, h, d = backbone.num_layers, backbone.hidden_size, latent // 2 + 2 * (latent // 4)
    shapes = {"task_encoder.mlp.0.weight": (latent // 2, h), "task_encoder.mlp.0.bias": (latent // 2,),
              "task_encoder.mlp.1.weight": (latent // 2,), "task_encoder.mlp.1.bias": (latent // 2,),
              "layer_depth_encoder.0.weight": (n, latent // 4), "layer_type_encoder.0.weight": (len(modules), latent // 4),
              "mixer.1.weight": (4 * d, d), "mixer.1.bias": (4 * d,), "mixer.4.weight": (d, 4 * d), "mixer.4.bias": (d,),
              "mlp3.0.weight": (d,), "mlp3.0.bias": (d,), "mlp3.1.weight": (4 * d, d), "mlp3.1.bias": (4 * d,),
              "mlp3.4.weight": (head_in, 4 * d), "mlp3.4.bias": (head_in,)}
    for enc in ("layer_depth_encoder", "layer_type_encoder"):
        shapes |= {f"{enc}.1.weight": (latent // 4,), f"{enc}.1.bias": (latent // 4,)}
    for block in ("mlp1", "mlp2"):
        shapes |= {f"{block}.mlp.0.weight": (d,), f"{block}.mlp.0.bias": (d,), f"{block}.mlp.1.weight": (4 * d, d),
                   f"{block}.mlp.1.bias": (4 * d,), f"{block}.mlp.4.weight": (d, 4 * d), f"{block}.mlp.4.bias": (d,)}
    for m in modules:
        d_in, d_out = backbone.module_shape(m)
        shapes |= {f"heads.{m}.weight": (rank * (d_in + d_out), head_in), f"heads.{m}.bias": (rank * (d_in + d_out),),
                   f"AB_offset.A.{m}": (n, rank, d_in), f"AB_offset.B.{m}": (n, d_out, rank)}
    g = torch.Generator().manual_seed(seed)
    tensors = {k: torch.randn(s, generator=g) * (0.3 if len(s) > 1 else 0.1) for k, s in shapes.items()}
    return write_upstream_text2lora(
        folder, tensors,
        args={"model_dir": backbone.name, "target_modules": list(modules), "training_task": "sft", "emb_model": "",
              "use_one_hot_task_emb": False, "shared_AB_head": False, "autoreg_gen": False,
              "hypernet_latent_size": latent, "head_in_size": head_in},
        adapter_config={"peft_type": "LORA", "r": rank, "lora_alpha": lora_alpha, "use_rslora": False,
                        "target_modules": list(modules), "base_model_name_or_path": backbone.name},
    )
