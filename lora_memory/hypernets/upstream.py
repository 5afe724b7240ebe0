"""Convert published Sakana AI checkpoints into ours: Doc-to-LoRA and Text-to-LoRA.

Doc-to-LoRA's ``pytorch_model.bin`` is a ``torch.save`` pickle holding the hypernetwork's tensors,
the base model's name and its config dataclasses (``HypernetConfig`` with a PEFT ``LoraConfig``
and an ``AggregatorConfig`` inside; ``CtxEncoderArguments``). Text-to-LoRA's ``hypermod.pt`` holds
tensors only; its config is the ``args.yaml`` and ``adapter_config.json`` beside it. Both are read
by `safe_unpickle` (nothing in them runs), their options are checked against what
`UpstreamPerceiverDocToLoRA` / `UpstreamTextToLoRA` reproduce, their tensors are renamed into that
network, and the result is written as one of our safetensors checkpoints, for the base model
given (whose shapes must agree with the file).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lora_memory.backbone import Backbone, BaseModelIdentity, model_identity
from lora_memory.errors import BackboneError, BaseModelMismatchError, UpstreamFormatError
from lora_memory.hypernets.checkpoint import save_checkpoint
from lora_memory.hypernets.encoders import BACKBONE_SPECIAL
from lora_memory.hypernets.upstream_perceiver import UpstreamPerceiverConfig, UpstreamPerceiverDocToLoRA
from lora_memory.safe_unpickle import UpstreamRecord, read_torch_archive

# upstream tensor name -> ours, for the tensors that only change name
_RENAMES = [
    (r"^aggregator\.perceiver\.modality_projection\.", "project."),
    (r"^aggregator\.perceiver\.(encoder|decoder)\.latents_q$", r"\1.latents"),
    (r"^aggregator\.perceiver\.(encoder|decoder)\.layernorm\.", r"\1.norm."),
    (r"^aggregator\.perceiver\.(encoder|decoder)\.layers\.", r"\1.layers."),
    (r"\.input_latents_layernorm\.", ".norm_latents."),
    (r"\.input_context_layernorm\.", ".norm_context."),
    (r"\.post_attention_layernorm\.", ".norm_post_attn."),
    (r"\.pre_ff_layernorm\.", ".norm_pre_ff."),
    (r"\.post_ff_layernorm\.", ".norm_post_ff."),
    (r"\.self_attn\.([qkvo])_proj\.", r".\1."),
    (r"\.mlp\.gate_proj\.", ".ff.gate."),
    (r"\.mlp\.up_proj\.", ".ff.up."),
    (r"\.mlp\.down_proj\.", ".ff.out."),
    (r"^project\.gate_proj\.", "project.gate."),
    (r"^project\.up_proj\.", "project.up."),
    (r"^project\.down_proj\.", "project.out."),
    (r"^bias_A\.", "bias_a."),
    (r"^bias_B\.", "bias_b."),
]
# pre-head blocks: per-layer (EinMix weights, already (layers, in, out)) or shared (nn.Linear, (out, in))
_PER_LAYER = {"0.weight": "norm_in.weight", "0.bias": "norm_in.bias", "1.weight": "w1", "1.bias": "b1",
              "3.weight": "w2", "3.bias": "b2", "4.weight": "norm_out.weight", "4.bias": "norm_out.bias"}
_SHARED = {"0.weight": "norm_in.weight", "0.bias": "norm_in.bias", "2.weight": "w1", "2.bias": "b1",
           "5.weight": "w2", "5.bias": "b2", "6.weight": "norm_out.weight", "6.bias": "norm_out.bias"}


def base_identity(base: Backbone | BaseModelIdentity | str | os.PathLike) -> BaseModelIdentity:
    """The identity of the model a converted network is for: a backbone, an identity, or a
    directory / cached hub id whose config alone is read (the model is built without weights)."""
    if isinstance(base, Backbone):
        return base.identity
    if isinstance(base, BaseModelIdentity):
        return base
    from transformers import AutoConfig, AutoModelForCausalLM

    try:
        config = AutoConfig.from_pretrained(str(base))
    except (OSError, ValueError) as exc:
        raise BackboneError(f"could not read the config of base model {str(base)!r}: {exc}") from exc
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    return model_identity(model, str(base))


def convert_doc2lora(
    path: str | os.PathLike, output: str | os.PathLike, base: Backbone | BaseModelIdentity | str | os.PathLike | None = None
) -> Path:
    """Convert an upstream Doc-to-LoRA ``pytorch_model.bin`` into our checkpoint at ``output``.

    Args:
        path: the upstream file (a ``torch.save`` archive; read without running code from it).
        output: where our ``.safetensors`` checkpoint is written (atomically).
        base: the base model the network is for; defaults to the name stored in the file (a
            directory or a hub id already in the local cache). Its name is the one
            `load_checkpoint` will check the loaded backbone against.

    Raises:
        UnsafePickleError: the file names anything but tensors, containers and upstream configs.
        UpstreamFormatError: an option or tensor layout this converter does not reproduce.
        BaseModelMismatchError: ``base`` does not have the shapes the network was trained for.
    """
    state = read_torch_archive(path)
    if not (isinstance(state, dict) and isinstance(state.get("hypernet_config"), UpstreamRecord)):
        raise UpstreamFormatError(f"{path} is not an upstream Doc-to-LoRA checkpoint (no hypernet_config)")
    upstream_name = str(state.get("base_model_name_or_path", ""))
    identity = base_identity(base if base is not None else upstream_name)
    config = upstream_config(state, identity, str(path))
    net = UpstreamPerceiverDocToLoRA(config, identity)
    tensors = {k: v for k, v in state.items() if isinstance(v, Tensor)}
    ours = rename_tensors(tensors, config)
    _load_exactly(net, ours, path)
    card = {
        "converted_from": {"file": Path(path).name, "format": "SakanaAI/doc-to-lora pytorch_model.bin",
                           "base_model_name_or_path": upstream_name, "license": "MIT (SakanaAI/doc-to-lora)"},
    }
    return save_checkpoint(output, net, card=card)


def upstream_config(state: dict[str, Any], identity: BaseModelIdentity, where: str) -> UpstreamPerceiverConfig:
    """Our config from the upstream records, refusing the options the network does not reproduce."""
    hyper: UpstreamRecord = state["hypernet_config"]
    agg, lora = hyper.get("aggregator_config"), hyper.get("lora_config")
    ctx = state.get("ctx_encoder_args")
    if not isinstance(agg, UpstreamRecord) or not isinstance(lora, UpstreamRecord):
        raise UpstreamFormatError(f"{where}: the hypernet_config has no aggregator_config or lora_config")
    refused = {
        "aggregator_type": (agg.get("aggregator_type"), "perceiver"),
        "layer_to_layer_ctx_encoder": (agg.get("layer_to_layer_ctx_encoder"), True),
        "per_rank_gen": (hyper.get("per_rank_gen"), True),
        "extra_modules": (bool(hyper.get("extra_modules")), False),
    }
    if isinstance(ctx, UpstreamRecord):
        refused["ctx_encoder_type"] = (ctx.get("ctx_encoder_type"), "per_layer_activations")
        refused["ctx_encoder_last_layer"] = (ctx.get("ctx_encoder_last_layer"), None)
        refused["keep_lm_head"] = (bool(ctx.get("keep_lm_head", False)), False)
        if ctx.get("ctx_encoder_model_name_or_path") not in (None, state.get("base_model_name_or_path")):
            refused["ctx_encoder_model_name_or_path"] = (ctx.get("ctx_encoder_model_name_or_path"), None)
    bad = {k: got for k, (got, want) in refused.items() if got != want}
    if bad:
        raise UpstreamFormatError(
            f"{where}: options this converter does not reproduce: {bad}; it reads the published networks "
            "(perceiver aggregator over per-layer activations of the base model, per-rank generation)"
        )
    modules = tuple(sorted(lora.get("target_modules") or ()))
    d_in, d_out = hyper.get("feature_sizes") or ({}, {})
    layers = hyper.get("layer_indices")
    n_layers = len(layers) if layers is not None else -1
    for name, got, want in [("num_layers", n_layers, identity.num_layers),
                            ("hidden_size", hyper.get("base_hidden_size"), identity.hidden_size)]:
        if got != want:
            raise BaseModelMismatchError(f"{where} was made for a model with {name} {got}; {identity.name!r} has {want}")
    for m in modules:
        if m not in identity.module_shapes or [d_in.get(m), d_out.get(m)] != list(identity.module_shapes[m]):
            raise BaseModelMismatchError(f"{where}: module {m} is {d_in.get(m)} -> {d_out.get(m)} upstream; "
                                         f"{identity.name!r} has {identity.module_shapes.get(m)}")
    q = state.get("aggregator.perceiver.encoder.layers.0.self_attn.q_proj.weight")
    k = state.get("aggregator.perceiver.encoder.layers.0.self_attn.k_proj.weight")
    default = UpstreamPerceiverConfig()
    if q is None or k is None or q.shape[0] != default.num_heads * default.head_dim or k.shape[0] != default.num_kv_heads * default.head_dim:
        raise UpstreamFormatError(f"{where}: the perceiver's attention is not 16 heads of 128 with 4 key/value heads")
    return UpstreamPerceiverConfig(
        layers=tuple(range(identity.num_layers)),
        modules=modules,
        rank=int(lora["r"]),
        lora_alpha=float(lora["lora_alpha"]),
        latent_dim=int(hyper["latent_size"]),
        n_latent_queries=int(agg["n_latent_queries"]),
        num_blocks=int(agg["num_blocks"]),
        num_self_attn_per_block=int(agg["num_self_attn_per_block"]),
        # older files lack these; upstream's from_state_dict fills the same defaults
        num_pre_head_layers=int(_or(hyper.get("num_pre_head_layers"), 4)),
        per_layer_processing=bool(hyper.get("per_layer_processing")),
        use_bias=bool(_or(hyper.get("use_bias"), True)),
    )


def _or(value: Any, default: Any) -> Any:
    return default if value is None else value


def rename_tensors(tensors: dict[str, Tensor], config: UpstreamPerceiverConfig) -> dict[str, Tensor]:
    """Upstream tensor names and layouts -> `UpstreamPerceiverDocToLoRA`'s state dict."""
    ours: dict[str, Tensor] = {}
    scalers: dict[str, dict[str, Tensor]] = {"a": {}, "b": {}}
    for key, value in tensors.items():
        key = key.removeprefix("_orig_mod.")  # torch.compile's prefix
        if key == "head.weight":  # (layers, dim, d_lora) for one module, (layers, modules, dim, d_lora) else
            ours["head"] = value.unsqueeze(1) if value.dim() == 3 else value
        elif match := re.fullmatch(r"scaler_([AB])\.(\w+)", key):  # (1, layers, rank, 1)
            scalers[match[1].lower()][match[2]] = value[0, :, :, 0]
        elif match := re.fullmatch(r"layers\.(\d+)\.layers\.(\d\.\w+)", key):
            ours[f"pre_head.{match[1]}.{_PER_LAYER.get(match[2], match[2])}"] = value
        elif match := re.fullmatch(r"layers\.(\d+)\.mlp\.(\d\.\w+)", key):
            name = _SHARED.get(match[2], match[2])
            ours[f"pre_head.{match[1]}.{name}"] = value.T.unsqueeze(0) if name in ("w1", "w2") else (
                value.unsqueeze(0) if name in ("b1", "b2") else value)
        else:
            for pattern, repl in _RENAMES:
                key = re.sub(pattern, repl, key)
            ours[key] = value
    for which, per_module in scalers.items():
        if per_module:
            ours[f"scaler_{which}"] = torch.stack([per_module[m] for m in config.modules if m in per_module])
    return ours


# ---- Text-to-LoRA ---------------------------------------------------------------------------------
_NO_DROPOUT = {"0": 0, "1": 1, "4": 3}  # LayerNorm, Linear, SiLU, Dropout, Linear -> without the Dropout
_T2L_RENAMES = [
    (r"^task_encoder\.mlp\.", "task_proj."),
    (r"^layer_depth_encoder\.", "layer_emb."),
    (r"^layer_type_encoder\.", "module_emb."),
    (r"^mixer\.1\.", "mixer.0."),
    (r"^mixer\.4\.", "mixer.2."),
    # upstream's Sequentials hold dropouts (indices 2, 3, 5...) that ours, for inference, leave out
    (r"^mlp([12])\.mlp\.([014])\.", lambda m: f"blocks.{int(m[1]) - 1}.{_NO_DROPOUT[m[2]]}."),
    (r"^mlp3\.([014])\.", lambda m: f"out.{_NO_DROPOUT[m[1]]}."),
    (r"^AB_offset\.A\.", "offset_a."),
    (r"^AB_offset\.B\.", "offset_b."),
]


def convert_text2lora(
    path: str | os.PathLike, output: str | os.PathLike, base: Backbone | BaseModelIdentity | str | os.PathLike | None = None,
    description_encoder: str | None = None,
) -> Path:
    """Convert an upstream Text-to-LoRA ``hypermod.pt`` (with the ``args.yaml`` and
    ``adapter_config.json`` upstream keeps in the same folder) into our checkpoint at ``output``.

    The module-type embedding is indexed in the order of ``args.yaml``'s ``target_modules``.
    ``description_encoder`` replaces the encoder named in ``args.yaml`` (e.g. a local directory
    holding ``gte-large-en-v1.5``); it must give embeddings of the same width.

    Raises:
        UnsafePickleError: ``hypermod.pt`` names anything but tensors and containers.
        UpstreamFormatError: a missing file, or an option this converter does not reproduce.
        BaseModelMismatchError: ``base`` does not have the shapes the network was trained for.
    """
    import yaml

    from lora_memory.hypernets.upstream_text2lora import UpstreamTextToLoRA, UpstreamTextToLoRAConfig

    path = Path(path)
    folder = path.parent
    if "checkpoint" in str(folder):  # upstream keeps the run's args above its checkpoints/it_N/
        folder = Path(str(folder).split("checkpoint")[0])
    try:
        args = yaml.safe_load((folder / "args.yaml").read_text(encoding="utf-8")) or {}
        peft = json.loads((folder / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, json.JSONDecodeError) as exc:
        raise UpstreamFormatError(f"{path}: upstream keeps args.yaml and adapter_config.json next to "
                                  f"hypermod.pt; they could not be read from {folder} ({exc})") from exc
    state = read_torch_archive(path)
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise UpstreamFormatError(f"{path} is not an upstream hypermod.pt (a state dict of tensors)")
    refused = {k: args.get(k) for k, want in [("training_task", "sft"), ("use_one_hot_task_emb", False),
                                              ("shared_AB_head", False), ("autoreg_gen", False)]
               if (args.get(k) or False) != want}
    if refused:
        raise UpstreamFormatError(f"{path}: options this converter does not reproduce: {refused}")
    identity = base_identity(base if base is not None else str(args.get("model_dir", "")))
    modules = tuple(args.get("target_modules") or peft.get("target_modules") or ())
    for m in modules:
        if m not in identity.module_shapes:
            raise BaseModelMismatchError(f"{path}: module {m} is not in {identity.name!r}")
    # no emb_model: the base model, tokenized as upstream does
    encoder = description_encoder or args.get("emb_model") or BACKBONE_SPECIAL
    config = UpstreamTextToLoRAConfig(
        layers=tuple(range(identity.num_layers)), modules=modules, rank=int(peft["r"]),
        lora_alpha=float(peft["lora_alpha"]), use_rslora=bool(peft.get("use_rslora", False)),
        latent_size=int(args.get("hypernet_latent_size", 128)), head_in_size=int(args.get("head_in_size", 512)),
        head_use_bias=all(f"heads.{m}.bias" in state for m in modules), encoder=encoder,
        embed_dim=int(state["task_encoder.mlp.0.weight"].shape[1]) if "task_encoder.mlp.0.weight" in state else None,
    )
    ours = {}
    for key, value in state.items():
        key = key.removeprefix("_orig_mod.")
        if key.startswith(("mean_recon_target.", "std_recon_target.")):
            continue  # used by reconstruction training only
        for pattern, repl in _T2L_RENAMES:
            key = re.sub(pattern, repl, key)
        ours[key] = value.float()
    net = UpstreamTextToLoRA(config, identity)
    _load_exactly(net, ours, path)
    card = {"converted_from": {"file": path.name, "format": "SakanaAI/text-to-lora hypermod.pt",
                               "model_dir": args.get("model_dir"), "license": "Apache-2.0 (SakanaAI/text-to-lora)"}}
    return save_checkpoint(output, net, card=card)


def _load_exactly(net: torch.nn.Module, ours: dict[str, Tensor], where: Path | str) -> None:
    """Load ``ours`` into ``net``, naming the tensors that are missing, extra or of another shape."""
    expected = net.state_dict()
    wrong = sorted(k for k in expected.keys() | ours.keys()
                   if k not in ours or k not in expected or ours[k].shape != expected[k].shape)
    if wrong:
        shown = ", ".join(f"{k}: ours {tuple(expected[k].shape) if k in expected else None} vs file "
                          f"{tuple(ours[k].shape) if k in ours else None}" for k in wrong[:4])
        raise UpstreamFormatError(f"{where}: {len(wrong)} tensors do not fit the upstream network ({shown})")
    net.load_state_dict({k: v.float() for k, v in ours.items()}, strict=True)
