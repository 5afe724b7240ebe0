"""Long conversations: recall of facts stated early, adapter-backed memory against a buffer window.

Generated conversations (`data.conversations`: facts in the first turns, small talk after) are
fed turn by turn to a `ConversationMemory` (recent turns kept as text up to ``--window``
tokens, older turns internalized); at each checkpoint every fact is asked. Methods, each
answering the same question after the same recent turns:

* ``adapters``: the memory's routed adapters applied (`ConversationMemory.ask`);
* ``hybrid``: the same, with ``text_fallback=--threshold`` (the routed turn's text in the prompt
  when the answer's confidence is low);
* ``buffer``: the recent turns alone, no adapters (a token buffer window of the same size);
* ``full``: the whole conversation in the prompt (where it fits the 8K window).

Prints recall (answer contained) and mean prompt tokens per method and checkpoint; ``--figure``
plots both. BENCHMARKS.md, "Long conversations":

    OMP_NUM_THREADS=2 python -m experiments.long_conversation --turns 60,100,200,400 --conversations 2 --storage-budget none --figure docs/figures/long_conversation.png
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from experiments._network import add_network_arguments, load_network, storage_budget
from lora_memory.backbone import Backbone
from lora_memory.conversation import ConversationMemory
from lora_memory.data.conversations import long_conversation
from lora_memory.evaluation import plots
from lora_memory.evaluation.qa import exact_match
from lora_memory.generation import generate
from lora_memory.memory import ParametricMemory
from lora_memory.segments import STORAGE_BUDGET

SECTIONS = ("Long conversations",)  # the BENCHMARKS.md section this reproduces
METHODS = ("adapters", "hybrid", "buffer", "full")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", default="60,100,200,400", help="comma-separated checkpoints (turns so far)")
    parser.add_argument("--conversations", type=int, default=2)
    parser.add_argument("--facts", type=int, default=8, help="facts stated at the start of each conversation")
    parser.add_argument("--window", type=int, default=128, help="tokens of recent turns kept as text")
    parser.add_argument("--threshold", type=float, default=0.5, help="the hybrid's text_fallback")
    parser.add_argument("--seed", type=int, default=2424)
    parser.add_argument("--storage-budget", type=storage_budget, default=STORAGE_BUDGET,
                        help="the memory's storage budget (fraction of the KV cache) or 'none' (every row)")
    parser.add_argument("--figure", default="", help="PNG of recall and prompt tokens against turns")
    add_network_arguments(parser)
    args = parser.parse_args(argv)
    checkpoints = sorted(int(n) for n in args.turns.split(",") if n)
    backbone = Backbone.load(None)
    net = load_network(args, backbone)
    rows = []
    for c in range(args.conversations):
        conversation = long_conversation(random.Random(args.seed + c), checkpoints[-1], args.facts)
        questions = [qa.question for qa in conversation.qas]
        with ParametricMemory(backbone=backbone, doc2lora=net, precision="fp16", max_new_tokens=24,
                              storage_budget=args.storage_budget) as memory:
            chat = ConversationMemory(memory, f"conversation-{c}", window_tokens=args.window)
            added = 0
            for n in checkpoints:
                chat.add_turns(conversation.turns[added:n])
                added = n
                recent = chat.recent()
                history = [(t.role, t.text) for t in recent]
                answers = {"adapters": memory.ask_batch(questions, histories=[recent] * len(questions))}
                memory.text_fallback = args.threshold
                answers["hybrid"] = memory.ask_batch(questions, histories=[recent] * len(questions))
                memory.text_fallback = None
                prompts = {"buffer": [backbone.chat_prompt(q, None, history) for q in questions],
                           "full": [backbone.chat_prompt(q, None, conversation.turns[:n]) for q in questions]}
                if len(prompts["full"][0]) + 24 > backbone.context_window:
                    del prompts["full"]
                for method, ps in prompts.items():
                    texts = generate(backbone, ps, None, max_new_tokens=24)
                    answers[method] = [(t, len(p)) for t, p in zip(texts, ps, strict=True)]
                for method, replies in answers.items():
                    for qa, turn, reply in zip(conversation.qas, conversation.fact_turns, replies, strict=True):
                        text, tokens = (reply.answer, reply.prompt_tokens) if hasattr(reply, "answer") else reply
                        rows.append({"conversation": c, "turns": n, "method": method, "distance": n - turn,
                                     "exact": exact_match(text, qa.answer), "prompt_tokens": tokens,
                                     "source": getattr(reply, "source", "text"), "answer": text, "gold": qa.answer})
                        print(json.dumps(rows[-1]), flush=True)
                print(json.dumps({"conversation": c, "turns": n, "recent_turns": len(recent),
                                  "internalized": len(chat.internalized_ids())}), flush=True)
    table: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for row in rows:
        table[(row["method"], row["turns"])].append(row)
    summary = {}
    for (method, n), group in sorted(table.items()):
        summary[(method, n)] = (sum(r["exact"] for r in group) / len(group),
                                sum(r["prompt_tokens"] for r in group) / len(group))
        fallback = sum(r["source"] == "text" for r in group) / len(group) if method == "hybrid" else None
        print(json.dumps({"method": method, "turns": n, "questions": len(group),
                          "recall": round(summary[(method, n)][0], 3),
                          "prompt_tokens": round(summary[(method, n)][1], 1),
                          "min_distance": min(r["distance"] for r in group),
                          **({"fallback": round(fallback, 3)} if fallback is not None else {})}))
    if args.figure:
        methods = [m for m in METHODS if any(k[0] == m for k in summary)]
        panels = {label: {m: [(n, summary[(m, n)][i]) for n in checkpoints if (m, n) in summary] for m in methods}
                  for i, label in enumerate(("recall of early facts", "mean prompt tokens"))}
        plots.lines(panels, Path(args.figure), f"Long conversations (window {args.window} tokens)", "turns so far")


if __name__ == "__main__":
    main()
