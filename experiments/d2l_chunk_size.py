"""How long should Doc-to-LoRA chunks be? Held-out facts and needles by chunk size, same weights.

Every chunk gets the network's full rank, so a document cut finer stores more of itself. For each
chunk size, held-out fact documents (3 facts, 3 distractors) and, optionally, needle documents are
internalized with the shipped checkpoint and asked (answers up to 32 tokens). Size 0 is the
default `internalize` picks (`spread_chunk_tokens`); ``--blind`` cuts anywhere instead of between
sentences; ``--surprise-rows`` / ``--surprise-nats`` override the checkpoint's surprise rows.
``--entities K`` runs K fact documents together into one (every question asked), and
``--method`` answers with the document in the prompt (``in_context``) or with nothing instead.
Figures quoted in BENCHMARKS.md ("Chunk size", "Surprise rows"):

    OMP_NUM_THREADS=2 python -m experiments.d2l_chunk_size --sizes 512,96,64,48,32 --facts 32 --seed 4242
    OMP_NUM_THREADS=2 python -m experiments.d2l_chunk_size --sizes 64,32 --facts 0 --niah 256,1024 --depths 10
    OMP_NUM_THREADS=1 python -m experiments.d2l_chunk_size --sizes 0 --facts 32 --seed 99 --surprise-rows 32 --surprise-nats 2
    OMP_NUM_THREADS=1 python -m experiments.d2l_chunk_size --sizes 0 --facts 24 --seed 1235   # the evaluation's facts
    python -m experiments.d2l_chunk_size --sizes 0 --facts 4 --entities 4 --seed 5150 [--method in_context]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import time
from collections.abc import Sequence

import torch

from experiments._network import add_network_arguments, load_network
from lora_memory.backbone import Backbone
from lora_memory.evaluation.doc2lora_eval import fact_documents, niah_samples
from lora_memory.evaluation.qa import answer_samples, summarize
from lora_memory.hypernets.doc2lora import internalize

SECTIONS = ("Chunk size", "Surprise rows", "Several entities per document")  # the BENCHMARKS.md sections this reproduces


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,64", help="chunk sizes in tokens; 0 = internalize's default")
    parser.add_argument("--facts", type=int, default=32, help="held-out fact documents (0 = none)")
    parser.add_argument("--seed", type=int, default=4242, help="seeds the fact documents")
    parser.add_argument("--niah", default="", help="needle document lengths, comma-separated")
    parser.add_argument("--depths", type=int, default=10)
    parser.add_argument("--blind", action="store_true", help="cut anywhere, not between sentences")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every adapter's B @ A by this")
    parser.add_argument("--show", action="store_true", help="print every fact answer beside its gold answer")
    parser.add_argument("--niah-seed", type=int, default=1234, help="seeds the needles (1234: the evaluation's)")
    parser.add_argument("--entities", type=int, default=1, help="fact documents run together into one")
    parser.add_argument("--method", default="doc2lora", choices=("doc2lora", "in_context", "no_context"))
    add_network_arguments(parser)
    args = parser.parse_args(argv)
    backbone = Backbone.load(None)
    if args.blind:
        backbone.sentence_breaks = frozenset()  # the cached property, replaced: no preferred cuts
    net = load_network(args, backbone)
    rng = random.Random(args.seed)
    facts = fact_documents(rng, args.facts, args.entities)
    grid = niah_samples(backbone, [int(n) for n in args.niah.split(",") if n], args.depths, args.niah_seed)
    for size in (int(s) for s in args.sizes.split(",")):
        spent: list[tuple[float, int]] = []  # (internalize seconds, adapter rank) per fact document

        def adapter(doc, size=size, spent=spent):
            start = time.perf_counter()
            made = internalize(backbone, net, doc.document, chunk_tokens=size or None)
            spent.append((time.perf_counter() - start, made.rank()))
            return dataclasses.replace(made, scale=made.scale * args.scale)

        row: dict = {"method": args.method, "entities": args.entities, "chunk_tokens": size or "default",
                     "blind": args.blind, "scale": args.scale, "surprise_rows": net.config.surprise_rows,
                     "surprise_nats": net.config.surprise_nats, "threads": torch.get_num_threads()}
        if facts:
            records = answer_samples(backbone, facts, args.method, net, adapter_for=adapter, max_new_tokens=32)
            s = summarize(records)
            if args.show:
                row["answers"] = [(r["gold"], r["prediction"][:40]) for r in records]
            row["facts"] = {"questions": len(records), "exact": round(s["all_exact"], 3), "f1": round(s["all_f1"], 3)}
            if spent:  # the in-context and no-context answers internalize nothing
                row["facts"] |= {"internalize_s": round(sum(t for t, _ in spent) / len(spent), 3),
                                 "ranks": sorted({r for _, r in spent})}
        if grid:
            records = answer_samples(backbone, [d for _, _, d in grid], "doc2lora", net, adapter_for=adapter,
                                     max_new_tokens=32)
            by_length: dict[int, list[bool]] = {}
            for (n, _, _), r in zip(grid, records, strict=True):
                by_length.setdefault(n, []).append(r["exact"])
            row["niah"] = {n: f"{sum(v)}/{len(v)}" for n, v in by_length.items()}
            row["misses"] = [(r["gold"], r["prediction"]) for r in records if not r["exact"]]
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
