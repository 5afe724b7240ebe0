"""Doc-to-LoRA meta-training recipe: a typed config and one `train` function over it.

Objective (arXiv 2602.15902, sec. 3.3): the student is the backbone WITH the generated adapter and
WITHOUT the document; its loss is cross-entropy on the gold answer tokens (``ce``) or
distillation on the in-context teacher's top-k probabilities (``distill``), plus an L1 penalty on
the generated A and B; averaged per question, then per document. Chunk counts are sampled per
document, so concatenation of chunk adapters is learned, not only used.

Made for a CPU first: context activations come from one early-exit pass without gradients,
logits are computed at answer positions only, and adapting the upper half of the layers lets
backward stop halfway. The same code runs on CUDA, and on several GPUs with ``accelerate launch``.
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from tqdm.auto import tqdm

from lora_memory.adapter import AdapterBatch
from lora_memory.backbone import Backbone
from lora_memory.generation import in_context_question
from lora_memory.hypernets.base import ConfigMixin
from lora_memory.hypernets.checkpoint import fresh, load_checkpoint, save_checkpoint
from lora_memory.hypernets.doc2lora import DocToLoRA, assemble, encode_chunks
from lora_memory.training.data import QA, DocSample, sample_stream
from lora_memory.training.state import STATE_FILE, load_state, save_state

CHECKPOINT = "hypernet.safetensors"
BEST = "best.safetensors"
METRICS = "metrics.jsonl"


@dataclass
class Doc2LoRATrainConfig(ConfigMixin):
    """A Doc-to-LoRA training run; every field is also a ``lora-memory train doc2lora`` flag.

    Attributes:
        run_dir: where checkpoints, trainer state and metrics.jsonl go; rerun to resume.
        model: base model (None = embedded SmolLM2-135M-Instruct).
        arch: ``fast_weight`` (learns on a CPU in minutes) or ``perceiver`` (upstream).
        rank: LoRA rank per chunk.
        chunk_tokens: chunk length at inference, stored in the checkpoint.
        steps: optimizer steps in total (a resumed run continues up to this).
        batch_size: documents per step.
        lr: peak AdamW learning rate (3e-3 measured best for fast_weight on CPU).
        warmup: linear warm-up steps, then cosine decay to 10%.
        objective: ``ce`` on gold answers, or ``distill`` on the teacher's top-k.
        top_k: teacher probabilities kept for ``distill`` (16 upstream).
        l1: weight of the mean absolute value of generated A and B.
        needle_weight: share of needle-in-a-haystack documents.
        facts_weight: share of fact documents.
        haystack_min: shortest needle haystack, tokens.
        haystack_max: longest needle haystack, tokens.
        max_train_chunks: chunk counts are sampled in 1..this per document.
        min_chunk_tokens: never cut chunks shorter than this.
        eval_every: steps between held-out evaluations (0 = never).
        eval_samples: held-out documents per evaluation.
        save_every: steps between checkpoints.
        seed: seeds the data stream and initialisation.
        device: cpu / cuda (default: accelerate's choice).
    """

    run_dir: str = "runs/doc2lora"
    model: str | None = None
    arch: str = "fast_weight"
    rank: int = 8
    chunk_tokens: int = 512
    steps: int = 300
    batch_size: int = 8
    lr: float = 3e-3
    warmup: int = 10
    objective: str = "ce"
    top_k: int = 16
    l1: float = 0.1
    needle_weight: float = 1.0
    facts_weight: float = 1.0
    haystack_min: int = 64
    haystack_max: int = 256
    max_train_chunks: int = 4
    min_chunk_tokens: int = 25
    eval_every: int = 50
    eval_samples: int = 24
    save_every: int = 25
    seed: int = 0
    device: str | None = None


def lr_at(step: int, config: Doc2LoRATrainConfig) -> float:
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def _chunk_groups(backbone: Backbone, docs: list[DocSample], rng: random.Random, config: Doc2LoRATrainConfig):
    """Tokenize and chunk each document with a sampled chunk count; returns chunks and groups."""
    chunks, groups = [], []
    for doc in docs:
        ids = backbone.tokenize(doc.document)
        most = max(1, min(config.max_train_chunks, len(ids) // config.min_chunk_tokens))
        n = rng.randint(1, most)
        size = math.ceil(len(ids) / n)
        start = len(chunks)
        chunks += [ids[i : i + size] for i in range(0, len(ids), size)]
        groups.append(list(range(start, len(chunks))))
    return chunks, groups


def _answer_batch(backbone: Backbone, prompts: list[list[int]], answers: list[list[int]]):
    """Right-padded prompt+answer sequences and, per sequence, positions predicting the answer."""
    seqs = [p + a for p, a in zip(prompts, answers)]
    ids, mask = backbone.pad(seqs)
    positions = [list(range(len(p) - 1, len(p) - 1 + len(a))) for p, a in zip(prompts, answers)]
    return ids, mask, positions


def _gather(hidden: torch.Tensor, positions: list[list[int]]) -> torch.Tensor:
    rows = torch.tensor([i for i, pos in enumerate(positions) for _ in pos], device=hidden.device)
    cols = torch.tensor([p for pos in positions for p in pos], device=hidden.device)
    return hidden[rows, cols]  # (answer tokens in the batch, hidden)


def doc2lora_loss(
    backbone: Backbone, hypernet: DocToLoRA, docs: list[DocSample], rng: random.Random, config: Doc2LoRATrainConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss of one batch of documents (see module docstring)."""
    chunks, groups = _chunk_groups(backbone, docs, rng, config)
    net = hypernet.module if hasattr(hypernet, "module") else hypernet
    doc_adapters = assemble(hypernet(encode_chunks(backbone, net, chunks)), groups, net.bias_adapter())
    qas: list[tuple[int, QA]] = [(d, qa) for d, doc in enumerate(docs) for qa in doc.qas]
    owner = torch.tensor([d for d, _ in qas], device=backbone.device)
    per_qa = AdapterBatch(
        {m: t.index_select(0, owner) for m, t in doc_adapters.A.items()},
        {m: t.index_select(0, owner) for m, t in doc_adapters.B.items()},
        doc_adapters.layers,
    )
    eos = backbone.tokenizer.eos_token_id
    answers = [backbone.tokenize(qa.answer) + [eos] for _, qa in qas]
    prompts = [backbone.chat_prompt(qa.question) for _, qa in qas]
    ids, mask, positions = _answer_batch(backbone, prompts, answers)
    log_q = F.log_softmax(backbone.logits(_gather(backbone.final_hidden(ids, mask, per_qa), positions)).float(), -1)
    if config.objective == "distill":
        t_prompts = [backbone.chat_prompt(in_context_question(docs[d].document, qa.question)) for d, qa in qas]
        t_ids, t_mask, t_pos = _answer_batch(backbone, t_prompts, answers)
        with torch.no_grad():
            t_logits = backbone.logits(_gather(backbone.final_hidden(t_ids, t_mask), t_pos)).float()
            top_p, top_i = torch.softmax(t_logits, -1).topk(config.top_k, dim=-1)
            top_p = top_p / top_p.sum(-1, keepdim=True)
        token_loss = -(top_p * log_q.gather(-1, top_i)).sum(-1)
    else:
        targets = torch.tensor([t for a in answers for t in a], device=backbone.device)
        token_loss = -log_q.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    # mean over each answer's tokens, then over a document's questions, then over documents
    sizes = [len(p) for p in positions]
    qa_loss = torch.stack([t.mean() for t in token_loss.split(sizes)])
    doc_loss = torch.stack([qa_loss[owner == d].mean() for d in range(len(docs))])
    l1 = sum(t.abs().mean() for t in (*doc_adapters.A.values(), *doc_adapters.B.values()))
    loss = doc_loss.mean() + config.l1 * l1
    return loss, {"loss": doc_loss.mean().item(), "l1": float(l1.detach())}


def heldout_samples(backbone: Backbone, config: Doc2LoRATrainConfig) -> list[DocSample]:
    """A fixed held-out evaluation set: held-out names, templates and phrasings only."""
    stream = sample_stream(
        config.seed + 10_000, "heldout", _mix(config), lambda s: len(backbone.tokenize(s)),
        (config.haystack_min, config.haystack_max),
    )
    return [next(stream) for _ in range(config.eval_samples)]


def _mix(config: Doc2LoRATrainConfig) -> dict[str, float]:
    return {"needle": config.needle_weight, "facts": config.facts_weight}


def train(config: Doc2LoRATrainConfig, backbone: Backbone | None = None) -> Path:
    """Train (or resume) a Doc-to-LoRA hypernetwork; returns the run directory."""
    from lora_memory.evaluation.qa import answer_samples, summarize

    run_dir = Path(config.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    accelerator = Accelerator(cpu=config.device == "cpu")
    backbone = backbone or Backbone.load(config.model, device=accelerator.device)
    resuming = (run_dir / STATE_FILE).is_file() and (run_dir / CHECKPOINT).is_file()
    if resuming:
        hypernet = load_checkpoint(run_dir / CHECKPOINT, backbone, kind="doc2lora")
    else:
        hypernet = fresh("doc2lora", backbone, arch=config.arch, seed=config.seed, rank=config.rank,
                         chunk_tokens=config.chunk_tokens)
    hypernet.train().requires_grad_(True)
    optimizer = torch.optim.AdamW(hypernet.parameters(), lr=config.lr, weight_decay=0.0)
    step, extra = load_state(run_dir, optimizer) if resuming else (0, {"best": -1.0, "seconds": 0.0})
    model, optimizer = accelerator.prepare(hypernet, optimizer)
    (run_dir / "config.json").write_text(json.dumps(config.to_dict(), indent=2))
    evalset = heldout_samples(backbone, config) if config.eval_every else []
    count = lambda s: len(backbone.tokenize(s))  # noqa: E731
    bar = tqdm(total=config.steps, initial=step, desc="train doc2lora", unit="step", disable=not accelerator.is_main_process)
    while step < config.steps:
        start = time.perf_counter()
        # the data stream is a function of (seed, step): resuming replays exactly the same batches
        rng = random.Random(config.seed * 1_000_003 + step)
        stream = sample_stream(rng.randrange(2**31), "train", _mix(config), count, (config.haystack_min, config.haystack_max))
        docs = [next(stream) for _ in range(config.batch_size)]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        loss, stats = doc2lora_loss(backbone, model, docs, rng, config)
        optimizer.zero_grad(set_to_none=True)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        step += 1
        extra["seconds"] += time.perf_counter() - start
        record = {"step": step, **stats, "lr": lr_at(step - 1, config), "s_per_step": time.perf_counter() - start}
        if config.eval_every and (step % config.eval_every == 0 or step == config.steps):
            net = accelerator.unwrap_model(model).eval()
            with torch.no_grad():
                record.update(summarize(answer_samples(backbone, evalset, "doc2lora", net)))
            net.train()
            if record["all_exact"] > extra["best"]:
                extra["best"] = record["all_exact"]
                save_checkpoint(run_dir / BEST, net, card=_card(config, step, extra, record))
        if accelerator.is_main_process:
            with open(run_dir / METRICS, "a") as f:
                f.write(json.dumps(record) + "\n")
            if step % config.save_every == 0 or step == config.steps:
                net = accelerator.unwrap_model(model)
                save_checkpoint(run_dir / CHECKPOINT, net, card=_card(config, step, extra, record))
                save_state(run_dir, optimizer, step, extra)
        bar.set_postfix(loss=f"{stats['loss']:.3f}", **({"acc": f"{record['all_exact']:.2f}"} if "all_exact" in record else {}))
        bar.update(1)
    bar.close()
    return run_dir


def _card(config: Doc2LoRATrainConfig, step: int, extra: dict, record: dict) -> dict:
    device = "cuda:" + torch.cuda.get_device_name() if torch.cuda.is_available() and config.device != "cpu" else "cpu"
    return {"recipe": "doc2lora", "config": config.to_dict(), "step": step, "train_seconds": round(extra["seconds"], 1),
            "device": device, "last_metrics": record}
