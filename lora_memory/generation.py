"""Text generation with per-sample adapters: the last step of backbone -> adapter -> answer.

Batched (`generate`), or one prompt streamed from a background thread (`stream_generate`, and
`aiterate` for asyncio).

Also the teacher-forced view of the same prompts (`answer_batch`, `gather_positions`), which
training losses and the context-distillation baseline score given answers with, and
`score_answers`, the held-out likelihood of given answers.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from transformers import TextIteratorStreamer
from transformers.generation.streamers import BaseStreamer

from lora_memory import injection
from lora_memory.adapter import AdapterBatch, LoraAdapter
from lora_memory.backbone import Backbone
from lora_memory.errors import PromptTooLongError, QuestionError, require_text


def generate(
    backbone: Backbone,
    prompts: Sequence[Sequence[int]],
    adapters: Sequence[LoraAdapter | None] | None = None,
    *,
    max_new_tokens: int = 64,
    min_new_tokens: int = 0,
    streamer: BaseStreamer | None = None,
) -> list[str]:
    """Greedy-decode a batch of prompts (token ids), sample ``i`` with ``adapters[i]`` (or none).

    Returns the replies as text; `generate_ids` gives the token ids.
    """
    out = generate_ids(backbone, prompts, adapters, max_new_tokens=max_new_tokens, min_new_tokens=min_new_tokens,
                       streamer=streamer)
    return decode_replies(backbone, out)


def decode_replies(backbone: Backbone, replies: Sequence[Sequence[int]]) -> list[str]:
    """Reply token ids as the text `generate` returns: special tokens dropped, outer whitespace stripped."""
    return [t.strip() for t in backbone.tokenizer.batch_decode(replies, skip_special_tokens=True)]


def generate_ids(
    backbone: Backbone,
    prompts: Sequence[Sequence[int]],
    adapters: Sequence[LoraAdapter | None] | None = None,
    *,
    max_new_tokens: int = 64,
    min_new_tokens: int = 0,
    streamer: BaseStreamer | None = None,
) -> list[list[int]]:
    """The new token ids of each greedy reply, up to and including its EOS (padding dropped).

    Safe to call from several threads at once with different adapters: the adapters live in this
    call's context, never on the model. ``min_new_tokens`` suppresses EOS until that many tokens
    exist (benchmarks use it so every method decodes the same amount).
    """
    if adapters is not None and len(adapters) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(adapters)} adapters")
    for p in prompts:
        check_prompt_fits(backbone, p, max_new_tokens)
    ids, mask = backbone.pad(prompts, side="left")
    batch = AdapterBatch.stack(adapters) if adapters is not None else None
    with torch.no_grad(), injection.adapters_active(batch.to(backbone.device) if batch else None):
        out = backbone.model.generate(
            input_ids=ids,
            attention_mask=mask,
            max_new_tokens=max_new_tokens,
            min_new_tokens=min_new_tokens,
            do_sample=False,
            pad_token_id=backbone.tokenizer.pad_token_id,
            streamer=streamer,
        )
    eos, replies = backbone.tokenizer.eos_token_id, []
    for row in out[:, ids.shape[1] :].tolist():
        replies.append(row[: row.index(eos) + 1] if eos in row else row)
    return replies


def check_prompt_fits(backbone: Backbone, prompt: Sequence[int], max_new_tokens: int) -> None:
    """Raise `PromptTooLongError` when ``prompt`` leaves fewer than ``max_new_tokens`` of the window."""
    if len(prompt) > backbone.context_window - max_new_tokens:
        raise PromptTooLongError(
            f"the prompt has {len(prompt)} tokens; with {max_new_tokens} new tokens it exceeds the "
            f"{backbone.context_window}-token window of {backbone.name}: shorten the question"
        )


def answer_batch(backbone: Backbone, prompts: list[list[int]], answers: list[list[int]]):
    """Right-padded prompt+answer sequences and, per sequence, the positions predicting the answer."""
    ids, mask = backbone.pad([p + a for p, a in zip(prompts, answers)])
    positions = [list(range(len(p) - 1, len(p) - 1 + len(a))) for p, a in zip(prompts, answers)]
    return ids, mask, positions


def gather_positions(hidden: torch.Tensor, positions: list[list[int]]) -> torch.Tensor:
    """Hidden states at the listed positions only, ``(answer tokens in the batch, hidden)``.

    Logits are then computed for these rows alone: never the vocabulary over whole sequences.
    """
    rows = torch.tensor([i for i, pos in enumerate(positions) for _ in pos], device=hidden.device)
    cols = torch.tensor([p for pos in positions for p in pos], device=hidden.device)
    return hidden[rows, cols]


@dataclass(frozen=True)
class AnswerScore:
    """How a given answer reads to the model: its mean token negative log-likelihood and whether
    greedy decoding would start with exactly it (the argmax at every answer position)."""

    nll: float
    greedy: bool


def score_answers(
    backbone: Backbone,
    prompts: Sequence[Sequence[int]],
    answers: Sequence[Sequence[int]],
    adapters: Sequence[LoraAdapter | None] | None = None,
    *,
    batch_size: int = 8,
) -> list[AnswerScore]:
    """Teacher-forced scores of ``answers[i]`` after ``prompts[i]`` (with ``adapters[i]``).

    One forward pass per batch instead of a decode: held-out curves read the answer's likelihood,
    which moves long before exact match does, and ``greedy`` tells which answers a method would
    produce word for word (the in-context test of which questions are answerable at all).
    """
    if adapters is not None and len(adapters) != len(prompts):
        raise ValueError(f"{len(prompts)} prompts but {len(adapters)} adapters")
    out = []
    for start in range(0, len(prompts), batch_size):
        sl = slice(start, start + batch_size)
        gold = [list(a) for a in answers[sl]]
        ids, mask, positions = answer_batch(backbone, [list(p) for p in prompts[sl]], gold)
        batch = AdapterBatch.stack(adapters[sl]) if adapters is not None else None
        with torch.no_grad():
            hidden = backbone.final_hidden(ids, mask, batch.to(backbone.device) if batch else None)
            log_p = torch.log_softmax(backbone.logits(gather_positions(hidden, positions)).float(), -1)
        targets = torch.tensor([t for a in gold for t in a], device=log_p.device)
        nll = -log_p.gather(-1, targets[:, None]).squeeze(-1)
        hit = log_p.argmax(-1) == targets
        sizes = [len(a) for a in gold]
        out += [AnswerScore(float(n.mean()), bool(h.all())) for n, h in zip(nll.split(sizes), hit.split(sizes))]
    return out


def in_context_question(document: str, question: str) -> str:
    """The user turn that puts a document in the prompt: the in-context baseline and teacher."""
    return f"{document}\n\nAnswer from the text above. {question}"


def answer(backbone: Backbone, question: str, adapter: LoraAdapter | None = None, *, max_new_tokens: int = 64) -> str:
    """Ask one chat question with one adapter (or none); an empty question raises `QuestionError`."""
    require_text(question, "question", QuestionError)
    return generate(backbone, [backbone.chat_prompt(question)], [adapter], max_new_tokens=max_new_tokens)[0]


def stream_generate(
    backbone: Backbone, prompt: Sequence[int], adapter: LoraAdapter | None, *, max_new_tokens: int
) -> Iterator[str]:
    """Decode one prompt in a background thread and yield the text as it is produced.

    The joined pieces equal what `generate` returns for the same prompt (outer whitespace is
    held back, as `generate` strips it). An error in the generation thread is raised here.
    """
    streamer = TextIteratorStreamer(backbone.tokenizer, skip_prompt=True, skip_special_tokens=True)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            generate(backbone, [prompt], [adapter], max_new_tokens=max_new_tokens, streamer=streamer)
        except BaseException as exc:  # handed to the consumer below
            failure.append(exc)
            streamer.end()  # unblock the consumer

    thread = threading.Thread(target=run, name="lora-memory-stream", daemon=True)
    thread.start()

    def pieces() -> Iterator[str]:
        yield from _stripped(streamer)
        thread.join()
        if failure:
            raise failure[0]

    return pieces()


def _stripped(pieces: Iterable[str]) -> Iterator[str]:
    """Drop leading whitespace and hold trailing whitespace until more text follows it."""
    pending, started = "", False
    for piece in pieces:
        text = pending + piece
        if not started:
            text = text.lstrip()
        body = text.rstrip()
        pending = text[len(body) :]
        if body:
            started = True
            yield body


async def aiterate(iterator: Iterator[str]) -> AsyncIterator[str]:
    """Consume a blocking iterator from asyncio without blocking the event loop."""
    done = object()
    while (item := await asyncio.to_thread(next, iterator, done)) is not done:
        yield item  # type: ignore[misc]
