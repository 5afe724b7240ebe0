"""Where `internalize`'s time goes on one needle document: backbone pass, next-token surprise,
network, chunk selection and folding (seconds of the two calls after a warm-up).

    python -m experiments.d2l_internalize_profile --tokens 1024
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence

from experiments._profiling import SECONDS, timed
from lora_memory.backbone import Backbone
from lora_memory.evaluation.doc2lora_eval import niah_samples
from lora_memory.hypernets import doc2lora
from lora_memory.hypernets.checkpoint import load_default

SECTIONS = ("Performance suite",)  # the BENCHMARKS.md sections this reproduces


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=1024, help="needle document length")
    args = parser.parse_args(argv)
    backbone = Backbone.load(None)
    net = load_default("doc2lora", backbone)
    document = niah_samples(backbone, [args.tokens], 1, 5)[0][2].document
    doc2lora.encode_chunks = timed("encode (backbone pass + surprise)", doc2lora.encode_chunks)
    backbone.next_token_nll = timed("surprise (output head)", backbone.next_token_nll)
    net.forward = timed("network", net.forward)
    doc2lora.strongest_chunks = timed("strongest chunks", doc2lora.strongest_chunks)
    doc2lora.fold_chunks = timed("folding", doc2lora.fold_chunks)
    doc2lora.internalize(backbone, net, document)
    for _ in range(2):
        SECONDS.clear()
        start = time.perf_counter()
        adapter = doc2lora.internalize(backbone, net, document)
        row = {"total": round(time.perf_counter() - start, 2), **{k: round(v, 2) for k, v in SECONDS.items()}}
        print(json.dumps({**row, "rank": adapter.rank(), "chunks": adapter.metadata["chunks"]}), flush=True)


if __name__ == "__main__":
    main()
