"""Does each answer token have a row, and does its question read that row first? Per answer token.

A fact's answer is stored when, for every answer token, (1) some row sits on the document token
before it ("coverage": a surprise row, since the learned queries' rows are soft), and (2) the
question's state at that step reads that row louder than every other row ("routing"; scored
by `FastWeightDocToLoRA.route_logits` on the base model's states, no adapter, and ranked among
all document tokens or among the surprise rows). Held-out fact documents, chunked as
`internalize` chunks them. Figures in BENCHMARKS.md ("Routing"):

    OMP_NUM_THREADS=2 python -m experiments.d2l_routing_probe --facts 20 --entities 4 --seed 5150 [--checkpoint X]
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence

import torch

from experiments._network import add_network_arguments, load_network
from lora_memory.backbone import Backbone
from lora_memory.chunking import chunk_token_ids
from lora_memory.evaluation.doc2lora_eval import fact_documents
from lora_memory.hypernets.chunk_policy import spread_chunk_tokens
from lora_memory.hypernets.doc2lora import encode_chunks
from lora_memory.training.routing import answer_rows

SECTIONS = ("Routing: where one adapter's answers fail",)  # the BENCHMARKS.md sections this reproduces


def probe(backbone: Backbone, net, document: str, qas) -> list[dict]:
    """One record per answer token: whether its row exists and where the question ranks it."""
    encoded = backbone.tokenizer(document, add_special_tokens=False, return_offsets_mapping=True)
    ids = encoded["input_ids"]
    chunks = chunk_token_ids(ids, spread_chunk_tokens(len(ids), net.chunk_tokens), backbone.sentence_breaks)
    features = encode_chunks(backbone, net, chunks)
    surprise = net.surprise_selection(features).sum(1) > 0  # (chunks, tokens)
    inputs, rows, kept = [], [], []
    for c, chunk in enumerate(chunks):
        n = len(chunk) - 1  # tokens with a successor in the chunk
        inputs.append(torch.stack([features.module_inputs[(layer, net.target)][c, :n] for layer in net.layers]))
        rows.append(surprise[c, :n])
        kept += [True] * n + [False]  # a chunk's last token stores nothing
    inputs, rows = torch.cat(inputs, dim=1), torch.cat(rows)
    where = {t: i for i, t in enumerate(t for t, k in enumerate(kept) if k)}
    records = []
    for qa in qas:
        answer = backbone.tokenize(qa.answer)
        prompt = backbone.chat_prompt(qa.question)
        ids_q, mask = backbone.pad([prompt + answer])
        capture = backbone.capture(ids_q, mask, modules={(layer, net.target) for layer in net.layers})
        for j, row in enumerate(answer_rows(backbone, encoded, document, qa.answer)):
            if row is None or row not in where:
                records.append({"aligned": False})
                continue
            state = torch.stack([capture.module_inputs[(layer, net.target)][0, len(prompt) - 1 + j]
                                 for layer in net.layers])
            scores = net.route_logits(inputs, state.unsqueeze(0), temperature=1.0)[0]
            t = where[row]
            records.append({"aligned": True, "first": j == 0, "covered": bool(rows[t]),
                            "top1_all": bool(scores.argmax() == t),
                            "top1_rows": bool(rows[t] and scores.masked_fill(~rows, -1e9).argmax() == t)})
    return records


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--facts", type=int, default=20, help="held-out fact documents")
    parser.add_argument("--entities", type=int, default=4, help="fact documents run together into one")
    parser.add_argument("--seed", type=int, default=5150)
    add_network_arguments(parser)
    args = parser.parse_args(argv)
    backbone = Backbone.load(None)
    net = load_network(args, backbone)
    records = []
    with torch.no_grad():
        for doc in fact_documents(random.Random(args.seed), args.facts, args.entities):
            records += probe(backbone, net, doc.document, doc.qas)
    aligned = [r for r in records if r["aligned"]]

    def share(rs: list[dict], key: str) -> float:
        return round(sum(r[key] for r in rs) / max(1, len(rs)), 3)

    firsts = [r for r in aligned if r["first"]]
    print(json.dumps({"checkpoint": args.checkpoint or "shipped", "entities": args.entities, "seed": args.seed,
                      "answer_tokens": len(records), "aligned": len(aligned),
                      "covered": share(aligned, "covered"), "top1_all": share(aligned, "top1_all"),
                      "top1_rows": share(aligned, "top1_rows"), "first_tokens": len(firsts),
                      "first_covered": share(firsts, "covered"), "first_top1_rows": share(firsts, "top1_rows")}))


if __name__ == "__main__":
    main()
