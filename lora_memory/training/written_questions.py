"""Questions the backbone writes about real prose (kind (c) of the real-text issue).

The rule-built questions quote the document ("... was founded in ___") or follow a handful of
templates; people paraphrase ("Which release first shipped X?"), and the real software documents
are asked that way. Here the backbone itself writes a question for a span of a Wikipedia sentence
(few-shot, the answer given), and a question is kept only where the backbone answers it right
with the document in its prompt and wrong without it: a question about the document, answerable
from it, not from what the model already knows. Writing costs a generation per span, so the
questions are written once into a pool file (`cached_pool`) that training draws from.
"""

from __future__ import annotations

import logging
import random
import re
from collections.abc import Callable, Sequence
from pathlib import Path

from tqdm.auto import tqdm

from lora_memory.backbone import Backbone
from lora_memory.data import realtext
from lora_memory.data.realtext import LabelledQA
from lora_memory.data.synthetic import DocSample, samples_from_json, samples_to_json
from lora_memory.evaluation.qa import answer_samples, answerable_in_context
from lora_memory.files import write_atomic
from lora_memory.generation import generate

KIND = "written"
log = logging.getLogger(__name__)
REQUEST = "Sentence: {sentence}\nAnswer: {answer}\nWrite the question."
# made up here, not taken from the wiki data: how a question paraphrases its sentence
SHOTS = (
    ("The Eiffel Tower was completed in 1889 for the World's Fair in Paris.", "1889",
     "In which year was the Eiffel Tower finished?"),
    ("Marie Curie shared the 1903 Nobel Prize in Physics with Pierre Curie and Henri Becquerel.", "Henri Becquerel",
     "Besides Pierre Curie, who shared Marie Curie's 1903 physics prize?"),
    ("The river flows for about 1,200 kilometres before reaching the Black Sea.", "the Black Sea",
     "Into which sea does the river empty?"),
)
_DEGENERATE = re.compile(r"\b(?:answer|question|sentence)\b", re.IGNORECASE)


def question_prompt(backbone: Backbone, sentence: str, answer: str) -> list[int]:
    """The few-shot chat prompt asking the backbone for a question whose answer is ``answer``."""
    history = [turn for s, a, q in SHOTS for turn in (("user", REQUEST.format(sentence=s, answer=a)), ("assistant", q))]
    return backbone.chat_prompt(REQUEST.format(sentence=sentence, answer=answer), system="", history=history)


def usable(question: str, answer: str) -> bool:
    """A single question of 3-30 words that neither gives the answer away nor talks about the task."""
    words = question.split()
    return (question.endswith("?") and question.count("?") == 1 and 3 <= len(words) <= 30
            and answer.lower() not in question.lower() and not _DEGENERATE.search(question))


def write_questions(
    backbone: Backbone, samples: Sequence[DocSample], *, batch_size: int = 16, progress: bool = True
) -> list[DocSample]:
    """Each sample with its questions rewritten by the backbone, keeping the answer span and lead;
    only questions that pass `usable`, are answered with the document in the prompt and are not
    answered without it stay; samples left with none are dropped."""
    items = [(i, qa, next((s for s in realtext.split_sentences(sample.document) if qa.answer in s), ""))
             for i, sample in enumerate(samples) for qa in sample.qas]
    items = [(i, qa, sentence) for i, qa, sentence in items if sentence]
    written: dict[int, list[LabelledQA]] = {}
    bar = tqdm(total=len(items), desc="writing questions", disable=not progress)
    for start in range(0, len(items), batch_size):
        batch = items[start:start + batch_size]
        prompts = [question_prompt(backbone, sentence, qa.answer) for _, qa, sentence in batch]
        for (i, qa, _), question in zip(batch, generate(backbone, prompts, max_new_tokens=40)):
            question = question.strip().strip('"')
            if usable(question, qa.answer):
                written.setdefault(i, []).append(LabelledQA(question, qa.answer, KIND, lead=getattr(qa, "lead", "")))
        bar.update(len(batch))
    bar.close()
    candidates = [DocSample(samples[i].document, tuple(qas), KIND) for i, qas in sorted(written.items())]
    answered = answerable_in_context(backbone, candidates)
    # keep the LabelledQA objects (answerable_in_context keeps them) unless known without the document
    guessed = iter(r["exact"] for r in answer_samples(backbone, answered, "no_context"))
    kept = [DocSample(s.document, qas, KIND) for s in answered
            if (qas := tuple(qa for qa in s.qas if not next(guessed)))]
    counts = [len(items), sum(len(s.qas) for s in candidates), sum(len(s.qas) for s in answered),
              sum(len(s.qas) for s in kept)]
    log.info("written questions: %d spans, %d usable, %d answered with the document, %d not without", *counts)
    return kept


def build_pool(
    backbone: Backbone, split: str, documents: int, seed: int, tokens: tuple[int, int],
    count_tokens: Callable[[str], int], progress: bool = True,
) -> list[DocSample]:
    """Written questions for ``documents`` Wikipedia documents of ``split`` (lengths log-uniform
    in ``tokens``), the spans chosen by the rule-built cloze and wh questions."""
    rng = random.Random(seed)
    lo, hi = tokens
    drawn = [realtext.wiki_sample(rng, split, round(lo * (hi / lo) ** rng.random()), count_tokens)
             for _ in range(documents)]
    return write_questions(backbone, drawn, progress=progress)


def pool_from_json(text: str) -> list[DocSample]:
    """The pool `samples_to_json` wrote, each question with its kind and lead."""
    return samples_from_json(text, lambda q: LabelledQA(q["question"], q["answer"], KIND, lead=q.get("lead", "")))


def cached_pool(path: Path, build: Callable[[], list[DocSample]]) -> list[DocSample]:
    """The pool at ``path``, written there by ``build`` first if missing: the generations are paid
    once per run directory, and a resumed run draws the very same questions. An empty pool is an
    error, not a silent no-op."""
    if not path.is_file():
        samples = build()
        if not samples:
            raise ValueError(f"no written question survived the filters; nothing written to {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, samples_to_json(samples).encode())
    return pool_from_json(path.read_text())
