"""Real questions about real passages whose answer the backbone cannot already know.

BIG-bench's ``contextual_parametric_knowledge_conflicts`` task (Apache-2.0): 17,528 Natural
Questions items, each a question people typed into a search engine ("who wrote age aint nothing
but a number?") and the Wikipedia passage that answers it, with the answer entity in the passage
replaced by another one ("All songs were written and produced by Viscera ..."). The questions are
human-written and not worded like the passage, and the right answer contradicts what a model has
memorised, so an adapter that answers it must have read the passage: the test that separates
stored content from prior knowledge. The passages (median 90 words) are segment-sized.

The data is read from the ``bigbench==1.0.0`` source distribution (``pip download --no-deps
--no-binary :all: bigbench==1.0.0``, a .tar.gz) or its extracted ``task.json``; nothing of it is
copied into this repository. BIG-bench asks that its data never appear in (pre)training corpora:
here it is meta-training data for the hypernetwork, split by question before anything else, and
its held-out part is an evaluation of the network, never reported as a BIG-bench score.
"""

from __future__ import annotations

import functools
import json
import random
import re
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from lora_memory.data.realtext import LabelledQA, lead_before, title_split
from lora_memory.data.synthetic import DocSample

TASK_MEMBER = "bigbench/benchmark_tasks/contextual_parametric_knowledge_conflicts/task.json"
KIND = "conflict"


@dataclass(frozen=True)
class ConflictQA(LabelledQA):
    """A question whose gold ``answer`` was swapped into the passage; ``prior`` is the real-world
    answer it replaced (what a model answering from memory says)."""

    kind: str = KIND
    prior: str = field(default="", kw_only=True)


def _detokenize(text: str) -> str:
    """Natural Questions' tokenized text ("Phineas 's sister , Candace ( voiced ...") as prose."""
    text = text.replace("``", '"').replace("''", '"')
    text = re.sub(r"\s+([,.;:!?%)\]}]|'s\b|'re\b|n't\b|'ll\b|'d\b|'ve\b|'m\b)", r"\1", text)
    text = re.sub(r"([(\[{$])\s+", r"\1", text)
    text = re.sub(r'"\s+([^"]*?)\s+"', r'"\1"', text)
    return " ".join(text.split())


def _question(text: str) -> str:
    text = _detokenize(text).strip()
    return text[:1].upper() + text[1:] + ("" if text.endswith("?") else "?")


@functools.cache
def _examples(source: str) -> tuple[dict, ...]:
    path = Path(source)
    if path.suffix == ".json":
        raw = path.read_bytes()
    else:
        with tarfile.open(path) as tar:
            member = next((m for m in tar.getmembers() if m.name.endswith(TASK_MEMBER)), None)
            if member is None:
                raise FileNotFoundError(f"{source} holds no {TASK_MEMBER}: is it the bigbench 1.0.0 sdist?")
            raw = tar.extractfile(member).read()
    return tuple(json.loads(raw)["examples"])


@functools.cache
def conflict_samples(source: str, split: str) -> tuple[DocSample, ...]:
    """Every item of ``split`` (by a hash of its question) whose swapped answer occurs once in its
    passage, as one-question samples of kind ``conflict``, in file order."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    out = []
    for example in _examples(source):
        question, _, context = example["input"].partition("\nContext: ")
        question = _question(question.replace("Question:", "", 1))
        if title_split(question) != split:
            continue
        answer = _detokenize(example["target"])
        passage = _detokenize(context)
        prior = next((k for k, v in example.get("target_scores", {}).items() if not v), "")
        if passage.count(answer) != 1:
            continue
        lead = lead_before(passage[: passage.index(answer)].split(". ")[-1])
        out.append(DocSample(passage, (ConflictQA(question, answer, lead=lead, prior=_detokenize(prior)),), KIND))
    return tuple(out)


def conflict_sample(rng: random.Random, source: str, split: str) -> DocSample:
    """One random item of ``split``."""
    return rng.choice(conflict_samples(source, split))
