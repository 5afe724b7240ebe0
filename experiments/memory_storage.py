"""What a stored document costs: adapter bytes per document token, by precision, against the fp16 KV cache.

Held-out Wikipedia prose of ``--lengths`` tokens (`wiki_sample`) and the bundled demo document
are cut into segments (`split_segments`, ``--segment-tokens``) and internalized once
(`internalize_segments`, every row); each precision and budget then keeps the rows
`ParametricMemory.add` would keep (`row_budget`, `LoraAdapter.first_rows`) and is priced by the
store's codec (`stored_nbytes`). Also the adapter one question applies (``--top-k`` segments,
decoded to fp32, as generation holds it) against the KV cache of a 32K-token document, and the
whole-document `internalize` adapter the memory stored before (fp32, chunks summed). Figures in
BENCHMARKS.md ("Documents as segments"):

    OMP_NUM_THREADS=2 python -m experiments.memory_storage --lengths 256,1024,4096
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from importlib import resources

from tqdm.auto import tqdm

from experiments._network import add_network_arguments, load_network
from lora_memory.adapter_io import PRECISIONS, stored_nbytes
from lora_memory.backbone import Backbone
from lora_memory.data.realtext import wiki_sample
from lora_memory.hypernets.doc2lora import internalize, internalize_segments
from lora_memory.segments import SEGMENT_TOKENS, STORAGE_BUDGET, row_budget, row_bytes, split_segments

SECTIONS = ("Documents as segments",)  # the BENCHMARKS.md sections this reproduces
LONG_DOCUMENT = 32768  # tokens: the document whose KV cache the applied adapter is compared with


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lengths", default="256,1024,4096", help="held-out prose document lengths (tokens)")
    parser.add_argument("--segment-tokens", type=int, default=SEGMENT_TOKENS)
    parser.add_argument("--top-k", type=int, default=1, help="segments one question runs with")
    parser.add_argument("--seed", type=int, default=21)
    add_network_arguments(parser)
    args = parser.parse_args(argv)
    backbone = Backbone.load(None)
    net = load_network(args, backbone)
    count = lambda s: len(backbone.tokenize(s))  # noqa: E731
    rng = random.Random(args.seed)
    demo = (resources.files("lora_memory") / "data" / "example.md").read_text(encoding="utf-8")
    documents = [("demo", demo)] + [
        (f"prose-{n}", wiki_sample(rng, "heldout", n, count).document) for n in (int(x) for x in args.lengths.split(","))
    ]
    kv_long = backbone.kv_cache_bytes(LONG_DOCUMENT)
    for name, text in tqdm(documents, desc="documents", unit="doc"):
        tokens = count(text)
        kv = backbone.kv_cache_bytes(tokens)
        segments = split_segments(backbone, text, args.segment_tokens)
        adapters = internalize_segments(backbone, net, segments)  # every row; each budget cuts below
        out = {"document": name, "tokens": tokens, "segments": len(segments), "kv_fp16_bytes": kv}
        if name == "demo":
            whole = internalize(backbone, net, text)
            out["whole_document_fp32"] = {"rank": whole.rank(), "bytes": stored_nbytes(whole, "fp32"),
                                          "over_kv": round(stored_nbytes(whole, "fp32") / kv, 3)}
        for precision in PRECISIONS:
            per_row = row_bytes(backbone, len(net.layers), net.target, precision)
            for budget in (STORAGE_BUDGET, None):
                kept = [a.first_rows(row_budget(backbone, a.metadata["tokens"], per_row, budget) or a.rank())
                        for a in adapters]
                stored = sum(stored_nbytes(a, precision) for a in kept)
                applied = sum(sorted((a.nbytes for a in kept), reverse=True)[: args.top_k])  # the largest k, fp32
                out[f"{precision}_{'budget' if budget else 'all_rows'}"] = {
                    "rows_per_segment": round(sum(a.rank() for a in kept) / len(kept), 1),
                    "bytes_per_token": round(stored / tokens, 1),
                    "over_kv": round(stored / kv, 4),
                    "applied_over_kv_32k": round(applied / kv_long, 4),
                }
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
