"""Upstream Doc-to-LoRA checkpoints on each upstream backbone family: convert, internalize, answer.

For each family (gemma-2, Qwen3, Mistral, Llama: the backbones Sakana AI published networks
for), a tiny random-weight model is built locally with transformers (no download), a random
checkpoint in the upstream ``pytorch_model.bin`` layout is written for it and converted by
`convert_doc2lora` (the restricted unpickler), and a `ParametricMemory` with the converted
checkpoint internalizes one document and answers a question. Prints one JSON line per family:
conversion time, internalize latency (``add``: chunk features, the network, the store write; the
median of ``--repeats`` documents after one warm-up), answer latency and peak memory (CUDA: peak
allocated; CPU: the process's peak resident set so far). Figures in BENCHMARKS.md ("Upstream
checkpoints on each backbone family"):

    python -m experiments.upstream_smoke --device cpu
    python -m experiments.upstream_smoke --device cuda --hidden 256 --layers 8 --tokens 2048
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from safetensors import safe_open
from transformers import (
    Gemma2Config,
    Gemma2ForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

from lora_memory import Backbone, ParametricMemory
from lora_memory.hypernets.upstream import convert_doc2lora
from lora_memory.testing import random_upstream_doc2lora, tiny_tokenizer

SECTIONS = ("Upstream checkpoints on each backbone family",)  # the BENCHMARKS.md sections this reproduces
FAMILIES = {
    "gemma-2": (Gemma2Config, Gemma2ForCausalLM, {"head_dim": None, "query_pre_attn_scalar": None}),
    "qwen3": (Qwen3Config, Qwen3ForCausalLM, {"head_dim": None}),
    "mistral": (MistralConfig, MistralForCausalLM, {"sliding_window": None}),
    "llama": (LlamaConfig, LlamaForCausalLM, {}),
}
SENTENCES = ["The special magic number is 4821.", "The grass is green.", "The sky is blue.",
             "Ada Quill lives in Port Verin and works as a glassblower; her cat is called Miso."]


def tiny_family_backbone(family: str, hidden: int, layers: int, device: str, seed: int = 0) -> Backbone:
    """A random model of ``family``'s architecture at a tiny size, with the tests' tokenizer."""
    config_cls, model_cls, extra = FAMILIES[family]
    tokenizer = tiny_tokenizer()
    heads = max(hidden // 32, 2)
    extra = {k: (hidden // heads if v is None else v) for k, v in extra.items()}
    config = config_cls(vocab_size=len(tokenizer), hidden_size=hidden, intermediate_size=2 * hidden,
                        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(heads // 2, 1),
                        max_position_embeddings=8192, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
                        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, **extra)
    torch.manual_seed(seed)
    model = model_cls(config).float().to(device)
    return Backbone(model, tokenizer, name=f"tiny-{family}")


def _parameters(checkpoint: Path) -> int:
    with safe_open(str(checkpoint), framework="pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys())


def _peak_bytes(device: str) -> int:
    if device.startswith("cuda"):
        return torch.cuda.max_memory_allocated()
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # Linux reports KiB


def run_family(family: str, args: argparse.Namespace, workdir: Path) -> dict:
    backbone = tiny_family_backbone(family, args.hidden, args.layers, args.device)
    start = time.perf_counter()
    upstream = random_upstream_doc2lora(workdir / f"{family}.bin", backbone, rank=args.rank, latent=args.latent,
                                        n_latent_queries=8, num_blocks=args.blocks, num_pre_head_layers=2)
    checkpoint = convert_doc2lora(upstream, workdir / f"{family}.safetensors", base=backbone)
    convert_s = time.perf_counter() - start
    base_words = " ".join(SENTENCES)
    repeat = max(1, args.tokens // max(1, len(backbone.tokenize(base_words))))
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with ParametricMemory(backbone=backbone, checkpoint=str(checkpoint), max_new_tokens=args.new_tokens,
                          rerank=False) as memory:
        spent = []
        for i in range(args.repeats + 1):  # the first add loads the encoder and warms up: not timed
            text = f"Document {i}. " + " ".join([base_words] * repeat)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            start = time.perf_counter()
            memory.add(text, id=f"doc{i}")
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            spent.append(time.perf_counter() - start)
        start = time.perf_counter()
        answer = memory.ask("What is the special magic number?")
        ask_s = time.perf_counter() - start
        adapter = memory.adapter("doc0")
    return {
        "family": family, "model_type": backbone.identity.model_type, "device": args.device,
        "hidden": args.hidden, "layers": args.layers, "document_tokens": len(backbone.tokenize(text)),
        "network_parameters": _parameters(checkpoint),
        "adapter_rank": adapter.rank(), "convert_s": round(convert_s, 3),
        "internalize_median_s": round(statistics.median(spent[1:]), 4), "ask_s": round(ask_s, 3),
        "peak_memory_mb": round(_peak_bytes(args.device) / 2**20, 1), "answer_chars": len(answer.answer),
    }


def main(argv: Sequence[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rank", type=int, default=4)
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--blocks", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=512, help="document length, about")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--new-tokens", type=int, default=8)
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="upstream-smoke-") as tmp:
        for family in args.families:
            results.append(run_family(family, args, Path(tmp)))
            print(json.dumps(results[-1]), flush=True)
    return results


if __name__ == "__main__":
    main()
