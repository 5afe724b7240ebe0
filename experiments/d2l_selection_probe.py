"""Diagnose fast-weight Doc-to-LoRA learning on the needle task: is selection or alignment the bottleneck?

Trains a fresh fast-weight network on short needle haystacks (CE, constant AdamW lr, no clipping,
no L1; one thread) and logs loss and held-out teacher-forced accuracy every 20 steps. With
``--oracle`` the attention is replaced by one-hot rows on the tokens that precede the needle's
digits, so only the maps and scales learn: it isolates alignment from selection. The figures in
BENCHMARKS.md ("D2L meta-training: what unblocked it") come from:

    OMP_NUM_THREADS=1 python -m experiments.d2l_selection_probe --out o.jsonl --oracle
    OMP_NUM_THREADS=1 python -m experiments.d2l_selection_probe --out r8.jsonl --rank 8 --b-scale-init 0.1
    OMP_NUM_THREADS=1 python -m experiments.d2l_selection_probe --out r16.jsonl --rank 16 --b-scale-init 0.1
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Sequence

import torch

from lora_memory.backbone import Backbone
from lora_memory.data.synthetic import DocSample, sample_stream
from lora_memory.generation import answer_batch, gather_positions
from lora_memory.hypernets.checkpoint import fresh
from lora_memory.hypernets.doc2lora import ChunkFeatures, assemble, encode_chunks
from lora_memory.training.doc2lora import Doc2LoRATrainConfig, doc2lora_loss

SECTIONS = ("What unblocked it",)  # the BENCHMARKS.md sections this reproduces

NEEDLE_ONLY = {"needle": 1.0, "facts": 0.0}


def oracle_attention(backbone: Backbone, rank: int):
    """Rows 0..4 select the tokens whose NEXT token is a needle digit (' ' then digits 1-3) and digit 4."""

    def attention(features: ChunkFeatures) -> torch.Tensor:
        w = torch.zeros(features.input_ids.shape[0], rank, features.input_ids.shape[1])
        for b, ids in enumerate(features.input_ids.tolist()):
            digits = [i for i, t in enumerate(ids) if backbone.tokenizer.decode([t]).strip().isdigit()]
            for j, pos in enumerate(([digits[0] - 1] + digits)[:rank]):
                w[b, j, pos] = 1.0
        return w

    return attention


def teacher_forced_accuracy(backbone: Backbone, net, samples: list[DocSample]) -> tuple[float, float]:
    """(token accuracy, whole-answer accuracy) of argmax predictions with the gold prefix given."""
    with torch.no_grad():
        chunks = [backbone.tokenize(s.document) for s in samples]
        adapters = assemble(net(encode_chunks(backbone, net, chunks)), [[i] for i in range(len(samples))], None)
        answers = [backbone.tokenize(s.qas[0].answer) + [backbone.tokenizer.eos_token_id] for s in samples]
        ids, mask, pos = answer_batch(backbone, [backbone.chat_prompt(s.qas[0].question) for s in samples], answers)
        pred = backbone.logits(gather_positions(backbone.final_hidden(ids, mask, adapters), pos)).argmax(-1)
        ok = (pred == torch.tensor([t for a in answers for t in a])).float()
        whole = [part.min().item() for part in ok.split([len(a) for a in answers])]
    return ok.mean().item(), sum(whole) / len(whole)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, help="metrics JSONL")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--b-scale-init", type=float, default=0.0)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--oracle", action="store_true", help="one-hot attention on the needle's lead-in tokens")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    backbone = Backbone.load(None, device="cpu")
    net = fresh("doc2lora", backbone, arch="fast_weight", rank=args.rank, b_scale_init=args.b_scale_init).train()
    net.requires_grad_(True)
    if args.oracle:
        net.attention = oracle_attention(backbone, args.rank)
    config = Doc2LoRATrainConfig(l1=0.0, max_train_chunks=1, facts_weight=0.0, haystack_min=50, haystack_max=70)
    count = lambda s: len(backbone.tokenize(s))  # noqa: E731
    heldout = sample_stream(12345, "heldout", NEEDLE_ONLY, count, (50, 70))
    evalset = [next(heldout) for _ in range(16)]
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.0)
    start = time.perf_counter()
    with open(args.out, "w") as log:
        for step in range(1, args.steps + 1):
            rng = random.Random(step)
            stream = sample_stream(rng.randrange(2**31), "train", NEEDLE_ONLY, count, (50, 70))
            loss, stats = doc2lora_loss(backbone, net, [next(stream) for _ in range(8)], rng, config)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            record = {"step": step, "loss": round(stats["loss"], 3), "seconds": round(time.perf_counter() - start)}
            if step % 20 == 0:
                record["token_acc"], record["answer_acc"] = teacher_forced_accuracy(backbone, net, evalset)
            log.write(json.dumps(record) + "\n")
            log.flush()


if __name__ == "__main__":
    main()
