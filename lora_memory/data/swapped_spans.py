"""Wikipedia documents whose answers were swapped for spans no prior knowledge supplies.

A held-out Wikipedia question the backbone already half knows ("When was the Eiffel Tower
built?") rewards an adapter that says the famous answer, read or not. Here every question's answer
in the document is replaced by another span (another year, another article's name, other digits)
and, for a share of the cloze questions, by a code-shaped span built from the document's own
words (a version, an ISO date, a command-line flag, a file name, a path, an identifier): the spans the
real software documents ask for and prose almost never has. An adapter can only answer these by
copying what it stored, token for token. The questions, their lead-in words and the document
change together, so each answer still occurs exactly once and the cloze windows still quote the
document. It stands in for the swapped-answer Natural Questions passages of
`data.context_conflicts`, whose source left PyPI.
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections.abc import Callable

from lora_memory.data.realtext import LabelledQA, subject, wiki_articles, wiki_sample
from lora_memory.data.synthetic import DocSample

KIND = "swap"
CODE_SHARE = 0.5  # of the cloze answers; wh answers keep their shape, so the question still makes sense
_YEAR = re.compile(r"1\d{3}|20[0-2]\d")
_WORD = re.compile(r"\b[a-z]{4,9}\b")  # four letters and up: no "the", "and"
_EXTENSIONS = (".conf", ".py", ".toml", ".json", ".yaml", ".txt", ".h", ".so.3", ".cfg", ".sh", ".md")


def _words(rng: random.Random, text: str, n: int) -> list[str]:
    pool = sorted(set(_WORD.findall(text))) or ["data", "value", "core"]
    return [rng.choice(pool) for _ in range(n)]


def code_span(rng: random.Random, text: str) -> str:
    """A code-shaped span made of ``text``'s own words or random digits."""
    a, b, c = _words(rng, text, 3)
    shapes = (
        lambda: f"--{a}-{b}",
        lambda: f"-{a[0]}",
        lambda: f"{a}_{b}{rng.choice(_EXTENSIONS)}",
        lambda: f"{rng.randint(0, 12)}.{rng.randint(0, 30)}.{rng.randint(0, 40)}",
        lambda: f"{rng.randint(1995, 2026)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        lambda: a.capitalize() + b.capitalize() + rng.choice(("", c.capitalize())),
        lambda: f"{a.upper()}_{b.upper()}",
        lambda: f"{a}.{b}",
        lambda: f"/{rng.choice(('usr', 'etc', 'var', 'opt'))}/{a}/{b}",
        lambda: f"~/.{a}rc",
        lambda: f"{a}_{b}()",
    )
    return rng.choice(shapes)()


def same_shape_span(rng: random.Random, answer: str, split: str) -> str:
    """A different span shaped like ``answer``: another year, the same digits' layout with other
    digits, another article's subject for a name, another article's long word otherwise."""
    if _YEAR.fullmatch(answer):
        return str(int(answer) + rng.choice((-1, 1)) * rng.randint(3, 150))
    if any(ch.isdigit() for ch in answer):
        digits = iter(str(rng.randint(1, 9)) + "".join(str(rng.randint(0, 9)) for _ in answer))
        return re.sub(r"\d", lambda _: next(digits), answer)
    articles = wiki_articles(split)
    if answer[:1].isupper():
        return subject(rng.choice(articles).title)
    return rng.choice(re.findall(r"\b[a-z]{9,}\b", rng.choice(articles).text) or ["unrecorded"])


def swapped_sample(rng: random.Random, split: str, tokens: int, count_tokens: Callable[[str], int]) -> DocSample:
    """`realtext.wiki_sample` with every answer swapped (see module docstring); kind ``swap``,
    each question keeping its ``cloze`` or ``wh`` label."""
    while True:
        sample = wiki_sample(rng, split, tokens, count_tokens)
        document, qas = sample.document, list(sample.qas)
        swaps: dict[str, str] = {}
        for qa in qas:
            for _ in range(8):
                code = getattr(qa, "kind", "") == "cloze" and rng.random() < CODE_SHARE
                new = code_span(rng, document) if code else same_shape_span(rng, qa.answer, split)
                if new.lower() != qa.answer.lower() and new not in document and new not in swaps.values():
                    swaps[qa.answer] = new
                    break
        for old, new in swaps.items():
            document = document.replace(old, new, 1)

        def swapped(text: str) -> str:
            for old, new in swaps.items():
                text = text.replace(old, new)
            return text

        kept = tuple(
            dataclasses.replace(qa, question=swapped(qa.question), answer=swaps[qa.answer],
                                **({"lead": swapped(qa.lead)} if isinstance(qa, LabelledQA) else {}))
            for qa in qas if qa.answer in swaps
        )
        kept = tuple(qa for qa in kept if document.count(qa.answer) == 1
                     and f"{getattr(qa, 'lead', '')} {qa.answer}".strip() in document
                     and not any(qa.answer in other.question for other in kept))
        if kept:
            return DocSample(document, kept, KIND)
