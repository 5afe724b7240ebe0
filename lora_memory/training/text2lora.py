"""Text-to-LoRA meta-training by supervised fine-tuning end to end (arXiv 2506.06105, sec. 3.2).

Each example of a training task is paired with one of that task's training descriptions, drawn
afresh every time; the description's embedding goes through the hypernetwork, and the generated
q/v adapter is trained through the student's completion-only cross-entropy (label smoothing 0.1)
plus a small L2 penalty on the generated weights. With ``null_weight``, extra draws pair training
examples with Wikipedia prose in place of a description and pull the adapter generated from it
toward changing nothing. ``mode="multitask"`` trains the same network
on a constant embedding instead: it then emits ONE adapter for every task, which is exactly the
"multi-task LoRA of the same shape" baseline, trained by the same code on the same data.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from lora_memory.adapter import AdapterBatch
from lora_memory.backbone import Backbone
from lora_memory.data import realtext
from lora_memory.data.task_corpus import Task, load_corpus
from lora_memory.evaluation.text2lora_eval import evaluate_method
from lora_memory.generation import answer_batch, gather_positions
from lora_memory.hypernets.checkpoint import fresh
from lora_memory.hypernets.encoders import make_encoder
from lora_memory.hypernets.text2lora import TextToLoRA, TextToLoRAConfig, prompt_ids
from lora_memory.training import loop
from lora_memory.training.loop import TrainConfig, accelerator_for

MODES = ("task", "multitask")


@dataclass
class Text2LoRATrainConfig(TrainConfig):
    """A Text-to-LoRA training run; every field is also a ``lora-memory train text2lora`` flag.

    Attributes:
        corpus: task corpus file, or "v1" / "v2" for a shipped one (None = v1, the shipped
            checkpoint's corpus; v2 is larger, with held-out task families).
        mode: ``task`` (T2L) or ``multitask`` (the same-shape multi-task LoRA baseline).
        net: the network trained; its fields are flags of their own (``--encoder``, ``--width``,
            ``--rank``, ...).
        batch_size: examples per step, tasks drawn uniformly.
        label_smoothing: of the completion cross-entropy (0.1 upstream).
        l2: weight of the mean squared generated A and B.
        max_input_tokens: inputs are cut to their last this-many tokens.
        eval_examples: examples per held-out task and description in those evaluations.
        null_weight: weight of the "asks for nothing" objective: ``null_batch`` extra draws per step
            pair a training example with the opening of a Wikipedia article (training titles) in
            place of a description, and the KL divergence of the student's answer tokens from the
            bare backbone's is added. Without it any adapter, even one made from word salad,
            changes how the backbone replies (issue 23's garbage control). ``task`` mode only.
        null_batch: extra draws per step for that objective.
    """

    run_dir: str = "runs/text2lora"
    steps: int = 1000
    batch_size: int = 16
    warmup: int = 50
    eval_every: int = 100
    save_every: int = 50
    corpus: str | None = None
    mode: str = "task"
    net: TextToLoRAConfig = field(default_factory=TextToLoRAConfig)
    label_smoothing: float = 0.1
    l2: float = 1e-4
    max_input_tokens: int = 384
    eval_examples: int = 4
    null_weight: float = 0.0
    null_batch: int = 2


class DescriptionBank:
    """Description embeddings, each computed once on first use: the encoder is frozen, so
    re-encoding a description every time it is drawn would be waste."""

    def __init__(self, backbone: Backbone, encoder_name: str):
        self.encoder = make_encoder(encoder_name, backbone)
        self.device = backbone.device
        self.rows: dict[str, torch.Tensor] = {}

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        missing = [t for t in dict.fromkeys(texts) if t not in self.rows]
        if missing:
            self.rows.update(zip(missing, self.encoder(missing).to(self.device)))
        return torch.stack([self.rows[t] for t in texts])


def _answer_logits(
    backbone: Backbone, adapters: AdapterBatch | None, prompts: Sequence[list[int]], targets: Sequence[str]
) -> tuple[torch.Tensor, list[list[int]]]:
    """Teacher-forced logits over each target's tokens (and EOS), with ``adapters`` applied."""
    eos = backbone.tokenizer.eos_token_id
    answers = [backbone.tokenize(t) + [eos] for t in targets]
    ids, mask, positions = answer_batch(backbone, prompts, answers)
    return backbone.logits(gather_positions(backbone.final_hidden(ids, mask, adapters), positions)).float(), answers


def text2lora_loss(
    backbone: Backbone, net: torch.nn.Module, embeddings: torch.Tensor, prompts: Sequence[list[int]],
    targets: Sequence[str], config: Text2LoRATrainConfig,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Completion-only CE (label-smoothed) of the student with the generated adapters, plus L2."""
    adapters = net(embeddings)
    logits, answers = _answer_logits(backbone, adapters, prompts, targets)
    gold = torch.tensor([t for a in answers for t in a], device=logits.device)
    token_loss = F.cross_entropy(logits, gold, reduction="none", label_smoothing=config.label_smoothing)
    ce = torch.stack([t.mean() for t in token_loss.split([len(a) for a in answers])]).mean()
    l2 = sum(t.pow(2).mean() for t in (*adapters.A.values(), *adapters.B.values()))
    return ce + config.l2 * l2, {"loss": ce.item(), "l2": float(l2.detach())}


def null_loss(
    backbone: Backbone, net: torch.nn.Module, embeddings: torch.Tensor, prompts: Sequence[list[int]],
    targets: Sequence[str],
) -> torch.Tensor:
    """KL(bare backbone || backbone with the adapters of ``embeddings``), per answer token: zero
    exactly when those adapters leave the replies as they were."""
    with torch.no_grad():
        bare, _ = _answer_logits(backbone, None, prompts, targets)
    student, _ = _answer_logits(backbone, net(embeddings), prompts, targets)
    return F.kl_div(F.log_softmax(student, -1), F.log_softmax(bare, -1), log_target=True, reduction="batchmean")


def sample_batch(tasks: Sequence[Task], rng: random.Random, n: int) -> list[tuple[Task, str, str, str]]:
    """``n`` (task, description, input, target) draws: a family uniformly, then a task of it, an
    example and a description. Without families (the v1 corpus) tasks are drawn uniformly, as the
    shipped checkpoint's run drew them; with them, no family (v2's 250 list functions are half the
    tasks) crowds out the others."""
    families: dict[str, list[Task]] = {}
    for task in tasks:
        families.setdefault(task.family, []).append(task)
    groups = list(families.values())
    out = []
    for _ in range(n):
        task = rng.choice(rng.choice(groups)) if len(groups) > 1 else rng.choice(tasks)
        example = rng.choice(task.train)
        out.append((task, rng.choice(task.descriptions_train), example.input, example.target))
    return out


def split_summary(per_task: dict[str, float], heldout: Sequence[Task], train_tasks: Sequence[Task]) -> dict[str, float]:
    """Held-out accuracy apart for tasks of families never trained on (``new_family_accuracy``) and
    for new tasks of trained families (``seen_family_accuracy``); empty without families."""
    trained = {t.family for t in train_tasks}
    if trained == {""}:
        return {}
    out = {}
    for name, pick in (("new_family_accuracy", lambda t: t.family not in trained),
                       ("seen_family_accuracy", lambda t: t.family in trained)):
        scores = [per_task[t.name] for t in heldout if pick(t) and t.name in per_task]
        if scores:
            out[name] = sum(scores) / len(scores)
    return out


def train(config: Text2LoRATrainConfig, backbone: Backbone | None = None) -> Path:
    """Train (or resume) a Text-to-LoRA network (or the multi-task baseline); returns the run directory."""
    if config.mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {config.mode!r}")
    if config.null_weight and config.mode != "task":
        raise ValueError("null_weight needs mode='task': the multi-task baseline reads no description")
    accelerator = accelerator_for(config)
    backbone = backbone or Backbone.load(config.model, device=accelerator.device)
    corpus = load_corpus(config.corpus)
    train_tasks = [t for t in corpus if t.split == "train"]
    heldout = [t for t in corpus if t.split == "heldout"]
    bank = DescriptionBank(backbone, config.net.encoder) if config.mode == "task" else None

    def make_net() -> TextToLoRA:
        return fresh("text2lora", backbone, seed=config.seed, **config.net.to_dict())

    def batch_loss(step: int, net: torch.nn.Module):
        rng = random.Random(config.seed * 1_000_003 + step)  # the null draws come after: old runs replay as they were
        draws = sample_batch(train_tasks, rng, config.batch_size)
        core = net.module if hasattr(net, "module") else net
        emb = bank([d for _, d, _, _ in draws]) if bank else core.constant_embedding(len(draws))
        prompts = [prompt_ids(backbone, core, x, config.max_input_tokens) for _, _, x, _ in draws]
        loss, stats = text2lora_loss(backbone, net, emb, prompts, [y for *_, y in draws], config)
        if config.null_weight and bank:
            nulls = sample_batch(train_tasks, rng, config.null_batch)
            texts = realtext.prose_snippets(rng, "train", len(nulls))
            kl = null_loss(backbone, net, bank(texts),
                           [prompt_ids(backbone, core, x, config.max_input_tokens) for _, _, x, _ in nulls],
                           [y for *_, y in nulls])
            loss, stats = loss + config.null_weight * kl, stats | {"null_kl": kl.item()}
        return loss, stats

    def evaluate(net: TextToLoRA) -> dict[str, float]:
        method = "text2lora" if config.mode == "task" else "multitask"
        result = evaluate_method(backbone, heldout, method, net, examples=config.eval_examples,
                                 max_input_tokens=config.max_input_tokens)
        return result["summary"] | split_summary(result["per_task"], heldout, train_tasks)

    return loop.run(config, backbone, "text2lora", make_net, batch_loss, evaluate, accelerator, "accuracy")
