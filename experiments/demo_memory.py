"""The bundled demo document on the memory path: stored bytes against its KV cache, and both questions.

`lora-memory demo` internalizes ``lora_memory/data/example.md`` as one adapter; a user's memory
stores it by `ParametricMemory.add` instead (segments, one adapter each). For each setting of
``--settings`` (segment tokens : storage budget, ``none`` = every row) the document goes into a
fresh memory and the two demo questions are asked through it (`answer_from_memory`). One JSON line
per setting: segments, stored adapter bytes over the fp16 KV cache of the same text, and per
question the answer, whether it holds the expected one, and the start of the routed segment.
Figures in BENCHMARKS.md ("Documents as segments"):

    OMP_NUM_THREADS=1 python -m experiments.demo_memory --settings 128:none,128:0.25,24:none
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from importlib import resources

from experiments._network import add_network_arguments, load_network, storage_budget
from lora_memory.backbone import Backbone
from lora_memory.data.synthetic import QA, DocSample
from lora_memory.evaluation.qa import answer_from_memory

SECTIONS = ("Documents as segments",)  # the BENCHMARKS.md sections this reproduces


def demo_sample() -> DocSample:
    """The demo's document and its two questions, as `lora-memory demo` reads them."""
    data = resources.files("lora_memory") / "data"
    questions = json.loads((data / "example_questions.json").read_text(encoding="utf-8"))
    return DocSample((data / "example.md").read_text(encoding="utf-8"),
                     tuple(QA(q["question"], q["answer"]) for q in questions), "demo")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settings", default="128:none,128:0.25,24:none",
                        help="comma-separated segment_tokens:storage_budget pairs ('none' keeps every row)")
    parser.add_argument("--max-new-tokens", type=int, default=64, help="as `lora-memory demo` answers")
    add_network_arguments(parser)
    args = parser.parse_args(argv)
    backbone = Backbone.load(None)
    net = load_network(args, backbone)
    sample = demo_sample()
    for setting in args.settings.split(","):
        tokens, budget = setting.split(":")
        records = answer_from_memory(backbone, net, [sample], segment_tokens=int(tokens),
                                     storage_budget=storage_budget(budget),
                                     max_new_tokens=args.max_new_tokens)
        kv = backbone.kv_cache_bytes(records[0]["tokens"])
        print(json.dumps({
            "segment_tokens": int(tokens), "storage_budget": budget, "tokens": records[0]["tokens"],
            "segments": records[0]["segments"], "stored_bytes": records[0]["stored_bytes"], "kv_cache_bytes": kv,
            "stored_over_kv": round(records[0]["stored_bytes"] / kv, 3),
            "answers": [{"gold": r["gold"], "answer": r["prediction"], "exact": r["exact"],
                         "routed_holds_answer": r["routed_holds_answer"], "routed": r["routed_text"][:60]}
                        for r in records],
        }), flush=True)


if __name__ == "__main__":
    main()
