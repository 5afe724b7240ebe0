"""The gradient baseline: context distillation (CD) of one document into a LoRA.

Teacher = the frozen backbone with the document in the prompt. It first answers each question
itself (greedy, up to ``answer_tokens``), then its top-16 probabilities along its own answer are
computed ONCE: distilling on the teacher's own replies, as context distillation does, and not on
gold answers the teacher would not have written (it answers in sentences: its distribution at a
gold short answer's positions teaches the student the opening of a sentence it then never
finishes). Student = the backbone with a trainable LoRA of the same shape as the Doc-to-LoRA
adapter it is compared with (same layers, module and rank), applied through
`lora_memory.adapter.AdapterBatch` and `lora_memory.injection.adapters_active` (the model is
never mutated, no PEFT), and the question alone in the prompt. Loss = cross-entropy of the
student's log-probabilities against the teacher's renormalised top-k probabilities (the
distillation objective of Doc-to-LoRA's training); Adam, a fixed number of steps.

It trains on the very questions it is later asked, so it is a strong baseline: the benchmark
times it (the teacher's answers included), `lora-memory eval doc2lora` scores it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Collection, Sequence
from typing import Any

import torch
import torch.nn.functional as F

from lora_memory import injection
from lora_memory.adapter import AdapterBatch, LoraAdapter
from lora_memory.backbone import Backbone
from lora_memory.data.synthetic import QA
from lora_memory.generation import answer_batch, gather_positions, generate_ids, in_context_question


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def teacher_fits(backbone: Backbone, document: str, qas: Sequence[QA], answer_tokens: int = 32) -> bool:
    """Whether the teacher prompt (document + question) and its answer fit the context window."""
    return all(
        len(backbone.chat_prompt(in_context_question(document, qa.question))) + answer_tokens
        <= backbone.context_window
        for qa in qas
    )


def context_distill(
    backbone: Backbone,
    like: LoraAdapter,
    document: str,
    qas: Sequence[QA],
    *,
    steps: int,
    lr: float = 1e-2,
    top_k: int = 16,
    answer_tokens: int = 32,
    seed: int = 0,
    snapshots: Collection[int] = (),
) -> tuple[LoraAdapter, dict[str, Any]]:
    """Distil ``document`` into a LoRA shaped like ``like``.

    Returns the trained adapter and its costs: losses, sizes and the split of the time between
    the teacher pass and the steps. ``snapshots``: step counts at which a copy of the adapter is
    also kept, in ``info["snapshots"]`` with its wall time so far (teacher included) in
    ``info["seconds_at"]``, so one run gives a learning curve. The default ``lr`` came from a
    1e-3 / 1e-2 / 3e-2 comparison on development fact documents whose figures were lost with the
    session that ran it; `lora-memory eval doc2lora --cd-lr` reruns it.
    """
    device = backbone.device
    start = time.perf_counter()
    prompts = [backbone.chat_prompt(in_context_question(document, qa.question)) for qa in qas]
    answers = generate_ids(backbone, prompts, max_new_tokens=answer_tokens)
    t_ids, t_mask, t_pos = answer_batch(backbone, prompts, answers)
    with torch.no_grad():
        t_logits = backbone.logits(gather_positions(backbone.final_hidden(t_ids, t_mask), t_pos)).float()
        top_p, top_i = torch.softmax(t_logits, -1).topk(min(top_k, t_logits.shape[-1]), dim=-1)
        top_p = top_p / top_p.sum(-1, keepdim=True)
    _sync(device)
    teacher_s = time.perf_counter() - start

    g = torch.Generator().manual_seed(seed)
    params: list[torch.Tensor] = []
    A: dict[str, torch.Tensor] = {}
    B: dict[str, torch.Tensor] = {}
    for m in like.modules:
        layers, rank, d_in = like.A[m].shape
        d_out = like.B[m].shape[1]
        # standard LoRA init: A random (Kaiming-uniform-like scale), B zero -> a no-op at step 0
        A[m] = (torch.rand(layers, rank, d_in, generator=g) * 2 - 1).div_(math.sqrt(d_in)).to(device).requires_grad_()
        B[m] = torch.zeros(layers, d_out, rank, device=device, requires_grad=True)
        params += [A[m], B[m]]
    optimizer = torch.optim.Adam(params, lr=lr)

    n = len(qas)
    s_ids, s_mask, s_pos = answer_batch(backbone, [backbone.chat_prompt(qa.question) for qa in qas], answers)
    losses: list[float] = []
    kept: dict[int, LoraAdapter] = {}
    seconds_at: dict[int, float] = {}
    _sync(device)
    start = time.perf_counter()
    for step in range(1, steps + 1):
        batch = AdapterBatch(
            {m: a.unsqueeze(0).expand(n, *a.shape) for m, a in A.items()},
            {m: b.unsqueeze(0).expand(n, *b.shape) for m, b in B.items()},
            like.layers,
        )
        with injection.adapters_active(batch):
            hidden = backbone.model.get_decoder()(input_ids=s_ids, attention_mask=s_mask, use_cache=False)
        log_q = F.log_softmax(backbone.logits(gather_positions(hidden.last_hidden_state, s_pos)).float(), -1)
        loss = -(top_p * log_q.gather(-1, top_i)).sum(-1).mean()
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
        if step in snapshots:
            _sync(device)
            seconds_at[step] = teacher_s + time.perf_counter() - start
            kept[step] = _adapter(A, B, like, backbone.name, step)
    _sync(device)
    steps_s = time.perf_counter() - start
    return _adapter(A, B, like, backbone.name, steps), {
        "teacher_s": teacher_s,
        "seconds_per_step": steps_s / max(1, steps),
        "loss_first": losses[0] if losses else float("nan"),
        "loss_last": losses[-1] if losses else float("nan"),
        "teacher_tokens": int(t_ids.shape[1]),
        "answer_tokens": sum(len(a) for a in answers),
        "student_tokens": int(s_ids.shape[1]),
        "trainable_parameters": sum(p.numel() for p in params),
        "snapshots": kept,
        "seconds_at": seconds_at,
    }


def _adapter(A: dict[str, torch.Tensor], B: dict[str, torch.Tensor], like: LoraAdapter, base: str, steps: int) -> LoraAdapter:
    """A detached CPU copy of the trained factors (training goes on updating the originals)."""
    return LoraAdapter(
        {m: a.detach().float().cpu().clone() for m, a in A.items()},
        {m: b.detach().float().cpu().clone() for m, b in B.items()},
        like.layers, base_model=base, metadata={"kind": "context_distillation", "steps": steps},
    )
