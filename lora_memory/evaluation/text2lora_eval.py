"""``lora-memory eval text2lora``: held-out tasks with held-out descriptions, T2L against baselines.

Methods: ``base`` (input alone), ``description`` (the description in the prompt), ``three_shot``
(three training examples in the prompt), ``multitask`` (one same-shape LoRA trained on all
training tasks), ``text2lora`` (the adapter generated from each held-out description) and
``garbage`` (adapters generated from word salad: a control that must score clearly lower).
Prompt tokens per query are counted for each, the one-off adaptation cost amortised in.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from lora_memory.adapter import LoraAdapter
from lora_memory.backbone import Backbone
from lora_memory.config import ResultsConfig
from lora_memory.data.task_corpus import Task, TaskExample, garbage_description, load_corpus
from lora_memory.evaluation import plots
from lora_memory.evaluation.qa import exact_match, normalize_answer
from lora_memory.generation import generate
from lora_memory.hypernets.checkpoint import load_checkpoint
from lora_memory.hypernets.encoders import make_encoder
from lora_memory.hypernets.text2lora import TextToLoRA, prompt_ids

TASK_METHODS = ("base", "description", "three_shot", "multitask", "text2lora", "garbage")


def correct(prediction: str, task: Task, example: TaskExample) -> bool:
    """Exact tasks: the first line equals the target (case, punctuation and format count);
    choice tasks: the target option is named and no other option is."""
    if task.metric != "choice":
        lines = prediction.strip().splitlines()
        return bool(lines) and lines[0].strip() == example.target.strip()
    if not exact_match(prediction, example.target):
        return False
    others = [c for c in task.candidates(example) or () if normalize_answer(c) != normalize_answer(example.target)]
    return not any(exact_match(prediction, c) for c in others)


FAILURES = ("right", "empty", "copies_input", "too_long", "wrong_format", "wrong_content")


def failure_kind(prediction: str, task: Task, example: TaskExample) -> str:
    """What a reply got wrong, first match of `FAILURES`: nothing; no text; the input said back
    whole or most of its start (the failure users reported); a first line over twice the target's words plus two;
    for choice tasks, no option named (or several); else the right form with the wrong content."""
    if correct(prediction, task, example):
        return "right"
    first = prediction.strip().splitlines()[0].strip() if prediction.strip() else ""
    if not first:
        return "empty"
    given, said = normalize_answer(example.input).split(), normalize_answer(first).split()
    if not _within(normalize_answer(example.target).split(), said) and (
            _within(given, said) or (given[: len(said)] == said and 2 * len(said) >= len(given))):
        return "copies_input"  # the whole input (or most of its start) said back, not a word picked from it
    if len(first.split()) > 2 * len(example.target.split()) + 2:
        return "too_long"
    candidates = task.candidates(example) if task.metric == "choice" else None
    if candidates and sum(exact_match(prediction, c) for c in candidates) != 1:
        return "wrong_format"
    return "wrong_content"


def _within(words: list[str], text: list[str]) -> bool:
    """Whether ``words`` occur in ``text`` as a run of whole words."""
    n = len(words)
    return n > 0 and any(text[i:i + n] == words for i in range(len(text) - n + 1))


def _adapter(backbone: Backbone, net: TextToLoRA, embedding) -> LoraAdapter:
    return net(embedding).to_adapter(base_model=backbone.name)


def _shots(task: Task) -> str:
    return "".join(f"Input: {e.input}\nOutput: {e.target}\n\n" for e in task.train[:3])


def evaluate_method(
    backbone: Backbone, tasks: Sequence[Task], method: str, net: TextToLoRA, *, examples: int = 16,
    max_input_tokens: int = 384, max_new_tokens: int = 16, seed: int = 0,
) -> dict:
    """Accuracy of one method on held-out tasks (each held-out description counts separately),
    every reply with its `failure_kind`, and the share of each kind.

    Every method builds its prompts like ``net`` (same system turn), so methods differ only in
    the adapter and the prompt prefix.
    """
    rng = random.Random(seed)
    encoder = make_encoder(net.config.encoder, backbone) if method in ("text2lora", "garbage") else None
    per_task, prompt_tokens, adapt_tokens, queries = {}, 0, 0, 0
    replies_kept: dict[str, list[dict]] = {}
    for task in tqdm(tasks, desc=f"eval {method}", unit="task", leave=False):
        variants = task.descriptions_eval if method in ("description", "text2lora") else ("",)
        hits = 0
        for description in variants:
            adapter = None
            if method == "text2lora":
                adapter = _adapter(backbone, net, encoder([description]).to(backbone.device))
                adapt_tokens += len(backbone.tokenize(description))
            elif method == "garbage":
                junk = garbage_description(rng)
                adapter = _adapter(backbone, net, encoder([junk]).to(backbone.device))
                adapt_tokens += len(backbone.tokenize(junk))
            elif method == "multitask":
                adapter = _adapter(backbone, net, net.constant_embedding(1))
            prefix = {"description": f"{description}\n\n", "three_shot": _shots(task)}.get(method, "")
            items = task.eval[:examples]
            prompts = [prompt_ids(backbone, net, prefix + e.input, max_input_tokens + len(backbone.tokenize(prefix)))
                       for e in items]
            replies = generate(backbone, prompts, [adapter] * len(items), max_new_tokens=max_new_tokens)
            hits += sum(correct(r, task, e) for r, e in zip(replies, items))
            replies_kept.setdefault(task.name, []).extend(
                {"input": e.input, "target": e.target, "reply": r, "kind": failure_kind(r, task, e)}
                for r, e in zip(replies, items))
            prompt_tokens += sum(len(p) for p in prompts)
            queries += len(items)
        per_task[task.name] = hits / (len(variants) * max(1, len(task.eval[:examples])))
    accuracy = sum(per_task.values()) / max(1, len(per_task))
    kinds = [r["kind"] for rows in replies_kept.values() for r in rows]
    return {
        "summary": {"accuracy": accuracy, "tokens_per_query": (prompt_tokens + adapt_tokens) / max(1, queries)}
        | {f"share_{k}": kinds.count(k) / max(1, len(kinds)) for k in FAILURES},
        "per_task": per_task,
        "replies": replies_kept,
    }


@dataclass
class Text2LoRAEvalConfig(ResultsConfig):
    """An evaluation run; every field is also a ``lora-memory eval text2lora`` flag.

    Attributes:
        out: directory for results.json and the bar chart.
        checkpoint: text2lora checkpoint (None = the shipped one).
        multitask_checkpoint: the multi-task baseline (a text2lora network trained with mode=multitask).
        corpus: task corpus file, or "v1" / "v2" for a shipped one (None = v1, on which the
            shipped checkpoint's figures were measured).
        methods: comma-separated subset of base,description,three_shot,multitask,text2lora,garbage.
        examples: examples per held-out task (and per description).
        seed: seeds the word salad of the ``garbage`` control.
    """

    out: str = "runs/eval-text2lora"
    multitask_checkpoint: str | None = None
    corpus: str | None = None
    methods: str = ",".join(TASK_METHODS)
    examples: int = 16


def evaluate_text2lora(config: Text2LoRAEvalConfig, backbone: Backbone, net: TextToLoRA) -> dict:
    """Every requested method on the held-out tasks; writes results.json and a bar chart."""
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    heldout = [t for t in load_corpus(config.corpus) if t.split == "heldout"]
    multitask = load_checkpoint(config.multitask_checkpoint, backbone, kind="text2lora") if config.multitask_checkpoint else None
    results = {}
    for method in [m for m in config.methods.split(",") if m]:
        if method == "multitask" and multitask is None:
            continue  # needs a trained baseline: --multitask-checkpoint
        model = multitask if method == "multitask" else net
        results[method] = evaluate_method(backbone, heldout, method, model, examples=config.examples, seed=config.seed)
    report = {"config": config.to_dict(), "tasks": [t.name for t in heldout], "results": results,
              "summary": {m: r["summary"] for m, r in results.items()}}
    (out / "results.json").write_text(json.dumps(report, indent=2))
    plots.bars({m: {"accuracy": r["summary"]["accuracy"]} for m, r in results.items()}, out / "text2lora.png",
               "Held-out tasks, held-out descriptions", "accuracy")
    return report
