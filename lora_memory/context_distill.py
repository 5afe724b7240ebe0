"""The gradient baseline: context distillation (CD) of one document into a LoRA.

Teacher = the frozen backbone with the document in the prompt; its top-16 probabilities at the
answer positions are computed ONCE. Student = the backbone with a trainable LoRA of the same
shape as the Doc-to-LoRA adapter it is compared with (same layers, module and rank), applied
through `lora_memory.adapter.AdapterBatch` and `lora_memory.injection.adapters_active` (the model
is never mutated, no PEFT), and the question alone in the prompt. Loss = cross-entropy of the
student's log-probabilities against the teacher's renormalised top-k probabilities (the
distillation objective of Doc-to-LoRA's training); Adam, a fixed number of steps.

It trains on the very questions it is later asked (the teacher's answers to them), so it is a
strong baseline: the benchmark times it, `lora-memory eval doc2lora` scores it.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from lora_memory import injection
from lora_memory.adapter import AdapterBatch, LoraAdapter
from lora_memory.backbone import Backbone
from lora_memory.generation import in_context_question
from lora_memory.training.data import QA
from lora_memory.training.loop import answer_batch, gather_positions


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def teacher_fits(backbone: Backbone, document: str, qas: Sequence[QA]) -> bool:
    """Whether the teacher prompt (document + question + answer) fits the context window."""
    return all(
        len(backbone.chat_prompt(in_context_question(document, qa.question))) + len(backbone.tokenize(qa.answer)) + 1
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
    lr: float = 1e-3,
    top_k: int = 16,
    seed: int = 0,
) -> tuple[LoraAdapter, dict[str, float]]:
    """Distil ``document`` into a LoRA shaped like ``like``.

    Returns the trained adapter and its costs: losses, sizes and the split of the time between
    the teacher pass and the steps.
    """
    device = backbone.device
    start = time.perf_counter()
    eos = backbone.tokenizer.eos_token_id
    answers = [backbone.tokenize(qa.answer) + [eos] for qa in qas]
    t_ids, t_mask, t_pos = answer_batch(
        backbone, [backbone.chat_prompt(in_context_question(document, qa.question)) for qa in qas], answers
    )
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
    losses = []
    _sync(device)
    start = time.perf_counter()
    for _ in range(steps):
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
    _sync(device)
    steps_s = time.perf_counter() - start
    adapter = LoraAdapter(
        {m: a.detach().float().cpu() for m, a in A.items()}, {m: b.detach().float().cpu() for m, b in B.items()},
        like.layers, base_model=backbone.name, metadata={"kind": "context_distillation", "steps": steps},
    )
    return adapter, {
        "teacher_s": teacher_s,
        "seconds_per_step": steps_s / max(1, steps),
        "loss_first": losses[0] if losses else float("nan"),
        "loss_last": losses[-1] if losses else float("nan"),
        "teacher_tokens": int(t_ids.shape[1]),
        "student_tokens": int(s_ids.shape[1]),
        "trainable_parameters": sum(p.numel() for p in params),
    }
