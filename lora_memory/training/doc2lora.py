"""Doc-to-LoRA meta-training recipe: a typed config and one `train` function over it.

Objective (arXiv 2602.15902, sec. 3.3): the student is the backbone WITH the generated adapter and
WITHOUT the document; its loss is cross-entropy on the gold answer tokens (``ce``) or
distillation on the in-context teacher's top-k probabilities (``distill``), or their sum (``both``:
upstream distils, and the gold span anchors it where the teacher is wrong), plus an L1 penalty on
the generated A and B; averaged per question, then per document. Chunk counts are sampled per
document, so concatenation of chunk adapters is learned, not only used.

Made for a CPU first: context activations come from one early-exit pass without gradients,
logits are computed at answer positions only, and adapting the upper half of the layers lets
backward stop halfway. The same code runs on CUDA, and on several GPUs with ``accelerate launch``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import logging
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from lora_memory import injection
from lora_memory.backbone import Backbone
from lora_memory.chunking import chunk_token_ids
from lora_memory.errors import CheckpointError
from lora_memory.files import write_atomic
from lora_memory.generation import answer_batch, gather_positions, in_context_question
from lora_memory.hypernets.checkpoint import fresh
from lora_memory.hypernets.doc2lora import DocToLoRA, assemble, chunk_adapters, internalize
from lora_memory.hypernets.fast_weight import FastWeightConfig
from lora_memory.hypernets.perceiver import PerceiverConfig
from lora_memory.training import loop, written_questions
from lora_memory.data import docstrings, realtext, swapped_spans
from lora_memory.data.context_conflicts import KIND, conflict_sample
from lora_memory.data.synthetic import (
    QA,
    DocSample,
    fact_sample,
    multi_fact_sample,
    needle_sample,
    sample_stream,
    samples_from_json,
    samples_to_json,
)
from lora_memory.training.loop import TrainConfig, accelerator_for
from lora_memory.training.routing import routing_loss

OBJECTIVES = ("ce", "distill", "both")
HELDOUT = "heldout.json"  # the run's held-out set, beside its checkpoints

log = logging.getLogger(__name__)


@dataclass
class Doc2LoRATrainConfig(TrainConfig):
    """A Doc-to-LoRA training run; every field is also a ``lora-memory train doc2lora`` flag.

    Attributes:
        arch: ``fast_weight`` (learns on a CPU in minutes) or ``perceiver`` (upstream).
        fast_weight: the fast-weight network trained when ``arch`` is ``fast_weight``; its fields
            are flags of their own (``--rank``, ``--null-slot``, ...). Rank 16, as 16 queries found
            the needle's lead-in token where 8 did not; B's scale 0.1 at step 0, so the token
            selection learns from step 1; the null slot on, so chunks without the answer stay
            quiet when a long document's chunk adapters are concatenated; no surprise rows (the
            shipped network uses 32 at inference).
        perceiver: the Perceiver network trained when ``arch`` is ``perceiver`` (a flag both
            networks have, such as ``--rank``, sets both).
        init_from: start from this checkpoint's weights (parameters it lacks, such as a newly
            enabled null slot or mixer, keep their initialisation; with ``query_groups`` every
            group copies its one query set); ignored when the run resumes.
        batch_size: documents per step.
        lr: peak AdamW learning rate (3e-3 measured best for fast_weight on CPU).
        objective: ``ce`` on gold answers, ``distill`` on the teacher's top-k, or ``both`` summed.
        top_k: teacher probabilities kept for ``distill`` (16 upstream).
        l1: weight of the mean absolute value of generated A and B (upstream uses one; 0 measured fine here).
        route_weight: fast_weight only: weight of the routing loss (`training.routing`): the
            question's state should read the row stored just before its answer in the document,
            not another entity's (0 = off). Measured without gain: at 1 its gradient is ~1/500 of
            the answer loss's, at 300 the answer loss rose (BENCHMARKS.md, "Routing").
        route_temperature: the routing softmax's temperature over cosine scores.
        wiki_weight: share of real-prose documents (Wikipedia summaries of one topic run
            together, `data.realtext`) with cloze and rule-built questions.
        prose_needle_weight: share of needles hidden in real prose.
        needle_weight: share of needle-in-a-haystack documents (repeated filler).
        facts_weight: share of generated fact documents.
        doc_tokens_min: shortest real-prose document, tokens (lengths are drawn log-uniform).
        doc_tokens_max: longest real-prose document, tokens.
        fact_entities: a fact document holds 1..this many entities' facts, all asked (1 = one
            entity, as the session-2 network was trained).
        haystack_min: shortest needle haystack, tokens.
        haystack_max: longest needle haystack, tokens.
        max_train_chunks: chunk counts are sampled in 1..this per document.
        distractor_docs: up to this many other documents' chunks are concatenated into each
            document's adapter (sampled 0..this), so unrelated chunks learn to stay quiet.
        min_chunk_tokens: never cut chunks shorter than this.
        eval_samples: held-out documents per evaluation (real-prose runs: see `heldout_samples`).
        conflict_weight: share of Natural Questions passages whose answer entity was swapped
            (`data.context_conflicts`): human questions the backbone cannot answer from memory.
        bigbench_sdist: the bigbench 1.0.0 source distribution (.tar.gz) or the task's
            ``task.json``, which ``conflict_weight`` reads.
        swap_weight: share of Wikipedia documents whose answers were swapped for spans no prior
            knowledge supplies, some code-shaped (`data.swapped_spans`): the local stand-in for
            ``conflict_weight``, whose source left PyPI.
        docstring_weight: share of standard-library docstrings run together with cloze questions
            on their code-shaped spans (`data.docstrings`): real technical text whose answers are
            flags and identifiers, a kind the real-document judge does not have.
        written_weight: share of Wikipedia documents with questions the backbone wrote itself
            (`training.written_questions`: paraphrased, answerable only from the document), drawn
            from a pool written once into the run directory (``written-<split>.json``).
        written_documents: documents the training pool's questions are written for (the held-out
            pool gets a quarter as many).
        answer_lead: the reply learnt for a real-prose question is the document's words just
            before the answer, then the answer (`realtext.LabelledQA.lead`), not the bare answer:
            a fast-weight row fires where the state resembles the document's where it was stored,
            and saying those words recreates it. Questions without a lead keep the bare answer.
    """

    run_dir: str = "runs/doc2lora"
    arch: str = "fast_weight"
    fast_weight: FastWeightConfig = field(
        default_factory=lambda: FastWeightConfig(rank=16, b_scale_init=0.1, null_slot=True))
    perceiver: PerceiverConfig = field(default_factory=lambda: PerceiverConfig(rank=16, b_scale_init=0.1))
    init_from: str | None = None
    steps: int = 300
    batch_size: int = 8
    lr: float = 3e-3
    warmup: int = 10
    objective: str = "ce"
    top_k: int = 16
    l1: float = 0.0
    route_weight: float = 0.0
    route_temperature: float = 0.05
    wiki_weight: float = 0.0
    prose_needle_weight: float = 0.0
    needle_weight: float = 1.0
    facts_weight: float = 1.0
    doc_tokens_min: int = 64
    doc_tokens_max: int = 1024
    fact_entities: int = 1
    haystack_min: int = 64
    haystack_max: int = 256
    max_train_chunks: int = 4
    distractor_docs: int = 3
    min_chunk_tokens: int = 25
    eval_every: int = 50
    eval_samples: int = 24
    save_every: int = 25
    conflict_weight: float = 0.0
    bigbench_sdist: str = ""
    swap_weight: float = 0.0
    docstring_weight: float = 0.0
    written_weight: float = 0.0
    written_documents: int = 400
    answer_lead: bool = False

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.conflict_weight and not self.bigbench_sdist:
            raise ValueError("conflict_weight needs bigbench_sdist: the bigbench 1.0.0 sdist (.tar.gz) or its task.json")

    def network(self) -> FastWeightConfig | PerceiverConfig:
        """The config of the network ``arch`` names."""
        return {"fast_weight": self.fast_weight, "perceiver": self.perceiver}[self.arch]


def _chunk_groups(backbone: Backbone, docs: list[DocSample], rng: random.Random, config: Doc2LoRATrainConfig):
    """Tokenize and chunk each document with a sampled chunk count; returns chunks and groups.

    Cuts fall between sentences, as `internalize` cuts when serving (so a sampled count of n can
    give n + 1 chunks)."""
    chunks, groups = [], []
    for doc in docs:
        ids = backbone.tokenize(doc.document)
        most = max(1, min(config.max_train_chunks, len(ids) // config.min_chunk_tokens))
        n = rng.randint(1, most)
        start = len(chunks)
        chunks += chunk_token_ids(ids, math.ceil(len(ids) / n), backbone.sentence_breaks)
        groups.append(list(range(start, len(chunks))))
    return chunks, [own + _distractors(d, docs, groups, rng, config.distractor_docs) for d, own in enumerate(groups)]


def _distractors(d: int, docs: list[DocSample], groups: list[list[int]], rng: random.Random, most: int) -> list[int]:
    """Chunks of up to ``most`` other documents of the batch, appended to document ``d``'s adapter.

    Their adapters are computed for the batch anyway, so this trains what long documents and
    multi-document memories serve, unrelated chunks concatenated with the relevant one, at no
    extra backbone cost. Two needle documents never mix: they answer the same question.
    """
    pool = [o for o in range(len(docs)) if o != d and not (_is_needle(docs[o]) and _is_needle(docs[d]))]
    picked = rng.sample(pool, rng.randint(0, min(most, len(pool))))
    return [i for o in sorted(picked) for i in groups[o]]


def _is_needle(doc: DocSample) -> bool:
    return doc.kind in ("needle", "needle_prose")


def reply_target(qa: QA, lead: bool) -> str:
    """What the student learns to reply: the answer, after the document's lead-in words if ``lead``."""
    words = getattr(qa, "lead", "") if lead else ""
    return f"{words} {qa.answer}" if words else qa.answer


def doc2lora_loss(
    backbone: Backbone, hypernet: DocToLoRA, docs: list[DocSample], rng: random.Random, config: Doc2LoRATrainConfig
) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss of one batch of documents (see module docstring)."""
    chunks, groups = _chunk_groups(backbone, docs, rng, config)
    net = hypernet.module if hasattr(hypernet, "module") else hypernet
    route = config.route_weight > 0
    if route and not hasattr(net, "route_logits"):
        raise ValueError(f"route_weight needs a network with rows on tokens (fast_weight), not {net.arch}")
    chunk_inputs: dict[int, torch.Tensor] | None = {} if route else None
    generated = chunk_adapters(backbone, hypernet, chunks, inputs_out=chunk_inputs)
    doc_adapters = assemble(generated, groups, net.bias_adapter())
    qas: list[tuple[int, QA]] = [(d, qa) for d, doc in enumerate(docs) for qa in doc.qas]
    owner = torch.tensor([d for d, _ in qas], device=backbone.device)
    # questions come document by document, so each document's adapter serves its own, uncopied
    per_qa = dataclasses.replace(doc_adapters, repeats=tuple(len(doc.qas) for doc in docs))
    eos = backbone.tokenizer.eos_token_id
    answers = [backbone.tokenize(reply_target(qa, config.answer_lead)) + [eos] for _, qa in qas]
    prompts = [backbone.chat_prompt(qa.question) for _, qa in qas]
    ids, mask, positions = answer_batch(backbone, prompts, answers)
    # the routing loss reads the student's own module inputs, recorded in the same pass
    capture = injection.Capture(modules=frozenset((layer, net.target) for layer in net.layers))
    with injection.capturing(capture) if route else contextlib.nullcontext():
        hidden = backbone.final_hidden(ids, mask, per_qa)
    log_q = F.log_softmax(backbone.logits(gather_positions(hidden, positions)).float(), -1)
    token_loss = torch.zeros(log_q.shape[0], device=log_q.device)
    if config.objective in ("distill", "both"):
        t_prompts = [backbone.chat_prompt(in_context_question(docs[d].document, qa.question)) for d, qa in qas]
        t_ids, t_mask, t_pos = answer_batch(backbone, t_prompts, answers)
        with torch.no_grad():
            t_logits = backbone.logits(gather_positions(backbone.final_hidden(t_ids, t_mask), t_pos)).float()
            top_p, top_i = torch.softmax(t_logits, -1).topk(config.top_k, dim=-1)
            top_p = top_p / top_p.sum(-1, keepdim=True)
        token_loss = token_loss - (top_p * log_q.gather(-1, top_i)).sum(-1)
    if config.objective in ("ce", "both"):
        targets = torch.tensor([t for a in answers for t in a], device=backbone.device)
        token_loss = token_loss - log_q.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    # mean over each answer's tokens, then over a document's questions, then over documents
    sizes = [len(p) for p in positions]
    qa_loss = torch.stack([t.mean() for t in token_loss.split(sizes)])
    doc_loss = torch.stack([qa_loss[owner == d].mean() for d in range(len(docs))])
    # the penalty reads each generated chunk once; without a weight its backward is skipped
    with torch.set_grad_enabled(config.l1 > 0 and torch.is_grad_enabled()):
        l1 = sum(t.abs().mean() for t in (*generated.A.values(), *generated.B.values()))
    loss = doc_loss.mean() + config.l1 * l1
    stats = {"loss": doc_loss.mean().item(), "l1": float(l1.detach())}
    if route:
        route_loss, route_acc = routing_loss(backbone, net, docs, chunks, groups, chunk_inputs, capture.module_inputs,
                                             positions, config.route_temperature)
        loss = loss + config.route_weight * route_loss
        stats |= {"route": float(route_loss.detach()), "route_acc": route_acc}
    return loss, stats


def warm_start(net: DocToLoRA, path: str) -> None:
    """Copy a checkpoint's tensors into ``net``; only parameters new to ``net`` may be missing."""
    state = load_file(path)
    missing, unexpected = net.load_state_dict(state, strict=False)
    if unexpected:
        raise CheckpointError(f"{path} has tensors this network lacks: {sorted(unexpected)}")
    log.info("warm start from %s; newly initialised: %s", path, sorted(missing) or "none")


def heldout_samples(backbone: Backbone, config: Doc2LoRATrainConfig) -> list[DocSample]:
    """A fixed held-out evaluation set: held-out names, templates, phrasings and articles only.

    Real-prose runs draw ``4 * eval_samples`` documents, split them per question kind (so each
    kind's accuracy is logged), keep only the real-prose questions the backbone answers with the
    document in its prompt (`answerable_in_context`: what an adapter can hope to recover) and at
    most ``eval_samples // 2`` samples of each kind, so no kind drowns the others. Written
    questions come from the held-out pool itself (its documents are distinct and already
    filtered, where drawing from it would repeat them)."""
    cap = max(1, config.eval_samples // 2)
    written = written_pool(backbone, config, "heldout")[:cap] if config.written_weight else []
    config = dataclasses.replace(config, written_weight=0.0)
    real = (config.wiki_weight or config.prose_needle_weight or config.conflict_weight or config.swap_weight
            or config.docstring_weight)
    if not (real or config.needle_weight or config.facts_weight):
        return written
    stream = _stream(backbone, config, config.seed + 10_000, "heldout")
    if not real:
        return list(itertools.islice(stream, config.eval_samples)) + written
    from lora_memory.evaluation.qa import answerable_in_context

    pool = realtext.by_question_kind(list(itertools.islice(stream, 4 * config.eval_samples)))
    judged = lambda s: s.kind.startswith(("wiki_", "swap_", "docstring_")) or s.kind == KIND  # noqa: E731
    answerable = answerable_in_context(backbone, [s for s in pool if judged(s)])
    per_kind: dict[str, list[DocSample]] = {}
    for sample in answerable + [s for s in pool if not judged(s)]:
        per_kind.setdefault(sample.kind, []).append(sample)
    return [s for kind in sorted(per_kind) for s in per_kind[kind][:cap]] + written


def cached_heldout(backbone: Backbone, config: Doc2LoRATrainConfig) -> list[DocSample]:
    """`heldout_samples`, kept in the run directory (``heldout.json``): a resumed run and the
    curve's reference read the very same set without rebuilding it (the in-context filter takes
    minutes on a CPU)."""
    path = Path(config.run_dir) / HELDOUT
    if path.is_file():
        return samples_from_json(path.read_text())
    samples = heldout_samples(backbone, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, samples_to_json(samples).encode())
    return samples


_POOLS: dict[Path, list[DocSample]] = {}


def written_pool(backbone: Backbone, config: Doc2LoRATrainConfig, split: str) -> list[DocSample]:
    """The run's pool of backbone-written questions for ``split``, written on first use (with a
    progress bar) and read once per process."""
    path = Path(config.run_dir) / f"written-{split}.json"
    if path not in _POOLS:
        train = split == "train"
        documents = config.written_documents if train else max(1, config.written_documents // 4)
        build = lambda: written_questions.build_pool(  # noqa: E731
            backbone, split, documents, config.seed + (0 if train else 10_000),
            (config.doc_tokens_min, config.doc_tokens_max), lambda s: len(backbone.tokenize(s)))
        _POOLS[path] = written_questions.cached_pool(path, build)
    return _POOLS[path]


def _stream(backbone: Backbone, config: Doc2LoRATrainConfig, seed: int, split: str) -> Iterator[DocSample]:
    """The recipe's sample mix: real prose (`data.realtext`), swapped-answer Natural Questions
    passages (`data.context_conflicts`), Wikipedia with swapped answers (`data.swapped_spans`),
    standard-library docstrings (`data.docstrings`) and
    the generated needles and facts."""
    count = lambda s: len(backbone.tokenize(s))  # noqa: E731
    generated = {"needle": config.needle_weight, "facts": config.facts_weight}
    real = {"wiki": config.wiki_weight, "needle_prose": config.prose_needle_weight, KIND: config.conflict_weight,
            swapped_spans.KIND: config.swap_weight, written_questions.KIND: config.written_weight,
            docstrings.KIND: config.docstring_weight}
    if not any(real.values()):  # the session-2..9 recipe, unchanged
        return sample_stream(seed, split, generated, count, (config.haystack_min, config.haystack_max),
                             config.fact_entities)

    def draw(rng: random.Random, kind: str, tokens: int) -> DocSample:
        if kind == KIND:
            return conflict_sample(rng, config.bigbench_sdist, split)
        if kind == swapped_spans.KIND:
            return swapped_spans.swapped_sample(rng, split, tokens, count)
        if kind == docstrings.KIND:
            return docstrings.docstring_sample(rng, split, tokens, count)
        if kind == written_questions.KIND:
            return rng.choice(written_pool(backbone, config, split))
        if kind == "needle":
            return needle_sample(rng, split, rng.randint(config.haystack_min, config.haystack_max), count)
        if config.fact_entities > 1:
            return multi_fact_sample(rng, split, rng.randint(1, config.fact_entities))
        return fact_sample(rng, split, rng.randint(1, 4), rng.randint(1, 4))

    return realtext.real_stream(seed, split, real | generated, count, (config.doc_tokens_min, config.doc_tokens_max),
                                draw)


def train(config: Doc2LoRATrainConfig, backbone: Backbone | None = None) -> Path:
    """Train (or resume) a Doc-to-LoRA hypernetwork; returns the run directory."""
    from lora_memory.evaluation.qa import answer_samples, likelihood_samples, other_documents, summarize

    accelerator = accelerator_for(config)
    backbone = backbone or Backbone.load(config.model, device=accelerator.device)
    evalset = cached_heldout(backbone, config) if config.eval_every else []
    other = other_documents(evalset)

    def make_net() -> DocToLoRA:
        net = fresh("doc2lora", backbone, arch=config.arch, seed=config.seed, **config.network().to_dict())
        if config.init_from:
            warm_start(net, config.init_from)
        return net

    def batch_loss(step: int, net: torch.nn.Module):
        # the data stream is a function of (seed, step): resuming replays exactly the same batches
        rng = random.Random(config.seed * 1_000_003 + step)
        stream = _stream(backbone, config, rng.randrange(2**31), "train")
        return doc2lora_loss(backbone, net, [next(stream) for _ in range(config.batch_size)], rng, config)

    def evaluate(net: DocToLoRA) -> dict[str, float]:
        adapters = {id(s): internalize(backbone, net, s.document) for s in evalset}
        made = lambda s: adapters[id(s)]  # noqa: E731
        # a reply that says the lead-in first needs room for it before the answer
        tokens = 32 if config.answer_lead else 16
        answered = summarize(answer_samples(backbone, evalset, "doc2lora", adapter_for=made, max_new_tokens=tokens))
        own = summarize(likelihood_samples(backbone, evalset, "doc2lora", adapter_for=made))
        # the control: each question with another document's adapter (`other_documents`)
        controlled = [s for s in evalset if id(s) in other]
        if not controlled:  # no kind has two held-out documents
            return answered | own
        wrong = summarize(likelihood_samples(backbone, controlled, "doc2lora", adapter_for=lambda s: made(other[id(s)])))
        return answered | own | {f"{k}_other": v for k, v in wrong.items()}

    return loop.run(config, backbone, "doc2lora", make_net, batch_loss, evaluate, accelerator, "all_exact")
