"""A task adapter and a document adapter at once: "answer from this document, in this format".

Generated fact documents (held-out names, `fact_sample`) are internalized by the shipped
Doc-to-LoRA network; a format is asked of their questions by the shipped Text-to-LoRA network's
adapter ("Reply with only the year." for year questions, "Answer in one word." for one-word
answers). Five ways to answer each question, all under the memory's chat prompt:

* ``document``: the document's adapter alone (what `ParametricMemory.ask` does);
* ``task``: the format's adapter alone (no document: the answer cannot be known);
* ``combined``: both adapters by rank concatenation (`TaskAdapter.combined_with`, what
  ``ParametricMemory.ask(..., task=...)`` does);
* ``combined, task x0.5``: the same with the task's update halved (is the task adapter too strong?);
* ``document+format text``: the document's adapter, the format written after the question;
* ``both as text``: the document and the format in the prompt, no adapter.

Reported per set: format-following rate (the reply IS a year / one word) and accuracy (the gold
answer appears in the reply, `exact_match`). BENCHMARKS.md, "Composition: a task adapter with a
document adapter":

    OMP_NUM_THREADS=1 python -m experiments.compose_task_document
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tqdm.auto import tqdm

from lora_memory.adapter import LoraAdapter, combine_adapters
from lora_memory.backbone import Backbone
from lora_memory.data.synthetic import fact_sample
from lora_memory.evaluation.qa import exact_match
from lora_memory.generation import generate, in_context_question
from lora_memory.hypernets.checkpoint import load_default
from lora_memory.hypernets.doc2lora import internalize
from lora_memory.task import TaskAdapter

SECTIONS = ("Composition: a task adapter with a document adapter",)
METHODS = ("document", "task", "combined", "combined, task x0.5", "document+format text", "both as text")
TASK_SCALE = 0.5


@dataclass(frozen=True)
class FormatSet:
    """A format asked of the questions whose gold answer already has it."""

    name: str
    description: str
    keeps: Callable[[str], bool]  # the gold answer has this format (selects the questions)
    follows: Callable[[str], bool]  # the reply has this format


def _one_word(text: str) -> bool:
    return len(re.sub(r"[^\w\s-]", " ", text).split()) == 1


SETS = (
    FormatSet("year", "Reply with only the year.", lambda a: bool(re.fullmatch(r"\d{4}", a)),
              lambda r: bool(re.fullmatch(r"\d{4}\.?", r.strip()))),
    FormatSet("one word", "Answer in one word.", lambda a: _one_word(a) and not a.isdigit(), _one_word),
)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.compose_task_document", description=__doc__)
    parser.add_argument("--documents", type=int, default=32, help="generated fact documents (held-out names)")
    parser.add_argument("--per-set", type=int, default=16, help="questions per format set (at most)")
    parser.add_argument("--max-new-tokens", type=int, default=16)
    parser.add_argument("--seed", type=int, default=23)
    args = parser.parse_args(argv)

    backbone = Backbone.load(None)
    d2l = load_default("doc2lora", backbone)
    rng = random.Random(args.seed)
    samples = [fact_sample(rng, "heldout", n_facts=4) for _ in range(args.documents)]
    for fmt in SETS:
        rows = [(s, qa) for s in samples for qa in s.qas if fmt.keeps(qa.answer)][: args.per_set]
        task = TaskAdapter(fmt.description, backbone=backbone)
        weaker = dataclasses.replace(task.adapter, scale=task.adapter.scale * TASK_SCALE)
        docs = {s.document: internalize(backbone, d2l, s.document)
                for s, _ in tqdm(rows, desc=f"{fmt.name}: documents")}
        runs: dict[str, tuple[list[str], list[LoraAdapter | None]]] = {
            "document": ([q.question for _, q in rows], [docs[s.document] for s, _ in rows]),
            "task": ([q.question for _, q in rows], [task.adapter] * len(rows)),
            "combined": ([q.question for _, q in rows], [task.combined_with(docs[s.document]) for s, _ in rows]),
            "combined, task x0.5": ([q.question for _, q in rows],
                                    [combine_adapters([weaker, docs[s.document]]) for s, _ in rows]),
            "document+format text": ([f"{q.question} {fmt.description}" for _, q in rows],
                                     [docs[s.document] for s, _ in rows]),
            "both as text": ([f"{in_context_question(s.document, q.question)} {fmt.description}" for s, q in rows],
                             [None] * len(rows)),
        }
        lines = []
        for method in tqdm(METHODS, desc=f"{fmt.name}: methods", leave=False):
            users, adapters = runs[method]
            replies = generate(backbone, [backbone.chat_prompt(u) for u in users], adapters,
                               max_new_tokens=args.max_new_tokens)
            form = [fmt.follows(r) for r in replies]
            right = [exact_match(r, q.answer) for r, (_, q) in zip(replies, rows, strict=True)]
            n = len(rows)
            lines.append(f"{method:<22} {sum(form) / n:>7.0%} {sum(right) / n:>9.0%} "
                         f"{sum(f and c for f, c in zip(form, right)) / n:>6.0%}  {replies[0]!r}")
        print(f"\n{fmt.name} ({fmt.description!r}), {len(rows)} questions:")
        print(f"{'method':<22} {'format':>7} {'accuracy':>9} {'both':>6}  first reply")
        print("\n".join(lines))


if __name__ == "__main__":
    main()
