"""How much an answer owes to its adapters: the confidence `ParametricMemory` puts on every answer.

An adapter that does not hold the answer still yields fluent text ("Version 29"). What tells
the two apart is whether the adapter made the reply more likely than the bare model would find it:

    support = mean log p(answer | question, adapter) - mean log p(answer | question, no adapter)

(nats per answer token, EOS excluded). A reply the adapter copied from its document scores well
above zero, since without the adapter the model has no reason to produce that name or number;
a reply the bare model would have given anyway scores near zero. Both terms come from ONE
teacher-forced pass over the batch doubled (each answer with and without its adapter), so a batch
of answers costs one short forward pass, far less than decoding them did. Its measured power to
separate right from wrong answers is in BENCHMARKS.md ("Confidence and hybrid answers").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from lora_memory.adapter import AdapterBatch, LoraAdapter
from lora_memory.backbone import Backbone
from lora_memory.generation import answer_batch, gather_positions


@dataclass(frozen=True)
class AnswerLikelihood:
    """Mean log-probability per answer token (nats), with and without the answer's adapters.

    Attributes:
        with_adapters: the model's own certainty in its reply, adapters applied.
        without_adapters: the same reply under the bare backbone.
    """

    with_adapters: float
    without_adapters: float

    @property
    def support(self) -> float:
        """How much the adapters raised the reply's likelihood: the answer's confidence."""
        return self.with_adapters - self.without_adapters


NO_ANSWER = AnswerLikelihood(0.0, 0.0)


def answer_likelihoods(
    backbone: Backbone,
    prompts: Sequence[Sequence[int]],
    answers: Sequence[Sequence[int]],
    adapters: Sequence[LoraAdapter | None],
    baselines: Sequence[LoraAdapter | None] | None = None,
) -> list[AnswerLikelihood]:
    """Each answer's mean log-probability after its prompt, with its adapter and without.

    Args:
        prompts: chat prompts (token ids), as generated from.
        answers: the generated reply ids; a trailing EOS is not scored.
        adapters: each reply's adapter (None: the reply owes nothing to an adapter).
        baselines: what "without" applies to each reply instead of nothing: a task adapter
            joined to the documents' one, so that the support measured is the documents' alone.

    Returns:
        One `AnswerLikelihood` per answer; an empty answer, or one without an adapter, gets
        `NO_ANSWER` (support 0: nothing the adapters added).
    """
    baselines = [None] * len(adapters) if baselines is None else baselines
    if not len(prompts) == len(answers) == len(adapters) == len(baselines):
        raise ValueError(f"{len(prompts)} prompts, {len(answers)} answers, {len(adapters)} adapters and "
                         f"{len(baselines)} baselines")
    eos = backbone.tokenizer.eos_token_id
    content = [list(a[:-1]) if a and a[-1] == eos else list(a) for a in answers]
    scored = [i for i, (a, ad) in enumerate(zip(content, adapters, strict=True)) if a and ad is not None]
    out = [NO_ANSWER] * len(answers)
    if not scored:
        return out
    # the batch doubled: the first half with adapters, the second half without
    batch_prompts = [list(prompts[i]) for i in scored] * 2
    batch_answers = [content[i] for i in scored] * 2
    batch_adapters = [adapters[i] for i in scored] + [baselines[i] for i in scored]
    ids, mask, positions = answer_batch(backbone, batch_prompts, batch_answers)
    stacked = AdapterBatch.stack(batch_adapters)
    with torch.no_grad():
        hidden = backbone.final_hidden(ids, mask, stacked.to(backbone.device) if stacked else None)
        logprobs = torch.log_softmax(backbone.logits(gather_positions(hidden, positions)).float(), dim=-1)
    targets = torch.tensor([t for a in batch_answers for t in a], device=logprobs.device)
    picked = logprobs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (answer tokens in the batch,)
    means = [chunk.mean().item() for chunk in torch.split(picked, [len(a) for a in batch_answers])]
    half = len(scored)
    for n, i in enumerate(scored):
        out[i] = AnswerLikelihood(means[n], means[half + n])
    return out
