"""Where a Doc-to-LoRA training step's time goes: context features, student forward, backward.

Three steps per setting (batch 8, needle + facts, rank 16), short (48-160-token) and long
(96-1024-token) haystacks; prints the seconds of the third step. ``--fine-tune`` profiles the
session-7 fine-tuning setting instead (64-512 tokens, facts twice as often as needles, up to 4
chunks, 3 distractor documents, 32 surprise rows):

    OMP_NUM_THREADS=1 python -m experiments.profile_d2l_step
    python -m experiments.profile_d2l_step --fine-tune --threads 2
"""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Sequence

import torch

from experiments._profiling import SECONDS, timed
from lora_memory.backbone import Backbone
from lora_memory.data.synthetic import sample_stream
from lora_memory.hypernets import doc2lora
from lora_memory.hypernets.checkpoint import fresh
from lora_memory.training import doc2lora as recipe

SECTIONS = ("Where a training step's time goes",)  # the BENCHMARKS.md sections this reproduces

def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fine-tune", action="store_true", help="the session-7 fine-tuning setting")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    backbone = Backbone.load(None, device="cpu")
    surprise = 32 if args.fine_tune else 0
    net = fresh("doc2lora", backbone, rank=16, b_scale_init=0.1, surprise_rows=surprise).train().requires_grad_(True)
    doc2lora.encode_chunks = timed("context features (backbone pass, no grad)", doc2lora.encode_chunks)
    backbone.final_hidden = timed("student forward", backbone.final_hidden)
    count = lambda s: len(backbone.tokenize(s))  # noqa: E731
    if args.fine_tune:
        mix = {"needle": 1.0, "facts": 2.0}
        settings = [recipe.Doc2LoRATrainConfig.from_dict(dict(
            haystack_min=64, haystack_max=512, max_train_chunks=4, distractor_docs=3, min_chunk_tokens=24,
            surprise_rows=surprise))]
    else:
        mix = {"needle": 1.0, "facts": 1.0}
        settings = [recipe.Doc2LoRATrainConfig(haystack_min=low, haystack_max=high,
                                               max_train_chunks=2 if high < 500 else 4)
                    for low, high in ((48, 160), (96, 1024))]
    for config in settings:
        haystack = (config.haystack_min, config.haystack_max)
        for step in range(3):
            SECONDS.clear()
            rng = random.Random(step)
            stream = sample_stream(rng.randrange(2**31), "train", mix, count, haystack)
            docs = [next(stream) for _ in range(8)]
            start = time.perf_counter()
            loss, _ = recipe.doc2lora_loss(backbone, net, docs, rng, config)
            SECONDS["loss, all of it"] = time.perf_counter() - start
            start = time.perf_counter()
            loss.backward()
            SECONDS["backward"] = time.perf_counter() - start
            net.zero_grad()
        print(f"haystacks {haystack[0]}-{haystack[1]} tokens:", {k: round(v, 2) for k, v in SECONDS.items()})


if __name__ == "__main__":
    main()
