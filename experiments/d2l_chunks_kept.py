"""How many chunk adapters should a long document keep? Needles by chunks kept and adapter scale.

Each needle document is internalized once without compression; the ``keep`` strongest chunk
adapters are then kept and folded, as `internalize` does with ``max_chunks=keep``. Figures in
BENCHMARKS.md ("Chunks kept at 8K-32K, session 5"):

    OMP_NUM_THREADS=1 python -m experiments.d2l_chunks_kept --seed 1234 --keeps 16,8,4 --scales 1.0,1.5
    OMP_NUM_THREADS=1 python -m experiments.d2l_chunks_kept --seed 777 --keeps 16,8,4 --scales 1.0
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Sequence

from lora_memory.backbone import Backbone
from lora_memory.evaluation.doc2lora_eval import niah_samples
from lora_memory.evaluation.qa import answer_samples
from lora_memory.hypernets.checkpoint import load_checkpoint, load_default
from lora_memory.hypernets.chunk_policy import fold_chunks, strongest_chunks
from lora_memory.hypernets.doc2lora import internalize

SECTIONS = ("Chunks kept at 8K-32K",)  # the BENCHMARKS.md sections this reproduces


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--niah", default="8192,32768", help="needle document lengths")
    p.add_argument("--depths", type=int, default=10)
    p.add_argument("--keeps", default="16,8,4", help="chunk adapters kept")
    p.add_argument("--scales", default="1.0,1.5", help="multipliers of every adapter's B @ A")
    p.add_argument("--ckpt", default="", help="a Doc-to-LoRA checkpoint (default: the shipped one)")
    p.add_argument("--seed", type=int, default=1234, help="seeds the needle documents (1234: the evaluation's)")
    a = p.parse_args(argv)
    bb = Backbone.load(None)
    net = load_checkpoint(a.ckpt, bb, kind="doc2lora") if a.ckpt else load_default("doc2lora", bb)
    grid = niah_samples(bb, [int(n) for n in a.niah.split(",")], a.depths, a.seed)
    t = time.time()
    raw = {d.document: internalize(bb, net, d.document, compress=False) for _, _, d in grid}
    print("internalized", round(time.time() - t), "s", flush=True)
    rank = int(net.config.rank)
    for keep in map(int, a.keeps.split(",")):
        # what `internalize` does with max_chunks=keep (one chunk: `fold_chunks` only compresses)
        folded = {k: fold_chunks(strongest_chunks(v, rank, keep), rank) for k, v in raw.items()}
        for s in map(float, a.scales.split(",")):
            ad = lambda doc: dataclasses.replace(folded[doc.document], scale=folded[doc.document].scale * s)
            recs = answer_samples(bb, [d for _, _, d in grid], "doc2lora", net, adapter_for=ad, max_new_tokens=32)
            by = {}
            for (n, _, _), r in zip(grid, recs):
                by.setdefault(n, []).append(r["exact"])
            print(json.dumps({"keep": keep, "scale": s, "niah": {n: f"{sum(v)}/{len(v)}" for n, v in by.items()},
                              "misses": [(r["gold"], r["prediction"][:24]) for r in recs if not r["exact"]]}), flush=True)


if __name__ == "__main__":
    main()
