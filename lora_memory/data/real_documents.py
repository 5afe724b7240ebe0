"""Real software documents with hand-written questions: the held-out judge of Doc-to-LoRA.

``real_docs.json`` holds READMEs, NEWS files, man pages and package descriptions found on a Debian
machine (permissive licences only; each document names its source and licence), 150-900 words
each, with three questions written by reading the text before any model answered. Their kind of
text is never trained on (training reads Wikipedia prose and generated documents), so scores on
them measure transfer, not fit.

``handwritten_facts.json`` holds short fictional documents written by hand in the style of the
bundled example (a club handbook, a notice, a product note, a memo), three questions each: the
hand-written fact documents users try first, which no generator of ours wrote.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

from lora_memory.data.synthetic import QA, DocSample

REAL_DOCS = "real_docs.json"
HANDWRITTEN = "handwritten_facts.json"


@dataclass(frozen=True)
class RealQA(QA):
    """A question whose answer may be written more than one way (``-c`` or ``--count``)."""

    alternatives: tuple[str, ...] = ()


def real_documents(kinds: tuple[str, ...] | None = None, source: str = REAL_DOCS) -> list[DocSample]:
    """The documents of ``source`` (`REAL_DOCS`, or `HANDWRITTEN`), optionally only those of
    ``kinds`` (readme, news, man, metadata; handbook, notice, product, memo), as samples whose
    ``kind`` is the document's kind."""
    data = json.loads(resources.files("lora_memory.data").joinpath(source).read_text(encoding="utf-8"))
    samples = []
    for doc in data["documents"]:
        if kinds is not None and doc["kind"] not in kinds:
            continue
        qas = tuple(RealQA(q["question"], q["answers"][0], tuple(q["answers"][1:])) for q in doc["questions"])
        samples.append(DocSample(doc["text"], qas, doc["kind"]))
    return samples
