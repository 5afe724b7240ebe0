"""Where a Doc-to-LoRA training step's time goes: context features, student forward, backward.

One thread, three steps per setting (batch 8, needle + facts, rank 16), short (48-160-token) and
long (96-1024-token) haystacks; prints the seconds of the third step:

    OMP_NUM_THREADS=1 python scripts/profile_d2l_step.py
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

import torch

from lora_memory.backbone import Backbone
from lora_memory.hypernets import doc2lora
from lora_memory.hypernets.checkpoint import fresh
from lora_memory.training import doc2lora as recipe
from lora_memory.training.data import sample_stream

SECONDS: dict[str, float] = {}


def timed(name: str, fn: Callable) -> Callable:
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        SECONDS[name] = SECONDS.get(name, 0.0) + time.perf_counter() - start
        return out

    return wrapper


def main() -> None:
    torch.set_num_threads(1)
    backbone = Backbone.load(None, device="cpu")
    net = fresh("doc2lora", backbone, rank=16, b_scale_init=0.1).train().requires_grad_(True)
    doc2lora.encode_chunks = timed("context features (backbone pass, no grad)", doc2lora.encode_chunks)
    backbone.final_hidden = timed("student forward", backbone.final_hidden)
    count = lambda s: len(backbone.tokenize(s))  # noqa: E731
    for haystack in ((48, 160), (96, 1024)):
        config = recipe.Doc2LoRATrainConfig(haystack_min=haystack[0], haystack_max=haystack[1],
                                            max_train_chunks=2 if haystack[1] < 500 else 4)
        for step in range(3):
            SECONDS.clear()
            rng = random.Random(step)
            stream = sample_stream(rng.randrange(2**31), "train", {"needle": 1.0, "facts": 1.0}, count, haystack)
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
