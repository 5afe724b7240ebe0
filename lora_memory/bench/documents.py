"""The benchmark's inputs: documents of a given length and the prompts each method builds.

Documents are needle-in-a-haystack samples (`lora_memory.data.synthetic.needle_sample`) of at
least the requested number of tokens, so every method answers the same question about the same
text. Prompts are built the way the methods ship: the question alone (Doc-to-LoRA, no context),
the document in the prompt (in-context; its head is kept when it does not fit the window), or the
retrieved chunks in the prompt (RAG).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from lora_memory.backbone import Backbone
from lora_memory.chunking import chunk_token_ids
from lora_memory.data.synthetic import DocSample, needle_sample
from lora_memory.generation import in_context_question
from lora_memory.router import Router


@dataclass
class BenchDocument:
    """One benchmark document: its sample (text, question, answer) and token count."""

    sample: DocSample
    tokens: int

    @property
    def text(self) -> str:
        return self.sample.document

    @property
    def question(self) -> str:
        return self.sample.qas[0].question


def make_document(backbone: Backbone, tokens: int, seed: int) -> BenchDocument:
    """A needle document of at least ``tokens`` tokens (the fewest filler sentences that reach it)."""
    rng = random.Random(seed * 1_000_003 + tokens)
    sample = needle_sample(rng, "heldout", tokens, lambda s: len(backbone.tokenize(s)), depth=0.5)
    return BenchDocument(sample, len(backbone.tokenize(sample.document)))


@dataclass
class InContextPrompt:
    """The in-context prompt and how much of the document it kept."""

    ids: list[int]
    document_tokens_kept: int
    truncated: bool


def in_context_prompt(backbone: Backbone, doc: BenchDocument, new_tokens: int) -> InContextPrompt:
    """Document + question in one chat turn, the document's head kept when it overflows the window."""
    limit = backbone.context_window - new_tokens
    ids = backbone.chat_prompt(in_context_question(doc.text, doc.question))
    if len(ids) <= limit:
        return InContextPrompt(ids, doc.tokens, False)
    doc_ids = backbone.tokenize(doc.text)
    overhead = len(backbone.chat_prompt(in_context_question("", doc.question)))
    keep = max(0, limit - overhead)
    while True:  # decoding and re-tokenizing can shift a token or two at the cut
        ids = backbone.chat_prompt(in_context_question(backbone.tokenizer.decode(doc_ids[:keep]), doc.question))
        if len(ids) <= limit or keep == 0:
            return InContextPrompt(ids, keep, True)
        keep = max(0, keep - max(1, len(ids) - limit))


class RagIndex:
    """A vector store over one document: contiguous chunks of ``chunk_tokens``, embedded once.

    Args:
        router: the embedding router (all-MiniLM-L6-v2 by default, see `lora_memory.router`).
        chunk_tokens: tokens per chunk (cut between sentences, as for Doc-to-LoRA).
    """

    def __init__(self, backbone: Backbone, router: Router, doc: BenchDocument, chunk_tokens: int):
        self.backbone = backbone
        self.router = router
        ids = backbone.tokenize(doc.text)
        self.chunks = [backbone.tokenizer.decode(c) for c in chunk_token_ids(ids, chunk_tokens, backbone.sentence_breaks)]
        self.matrix: torch.Tensor = router.embed(self.chunks)

    def prompt(self, question: str, k: int, limit: int) -> tuple[list[int], int]:
        """Embed the question and put the ``k`` best chunks (in document order) into the prompt.

        Chunks are dropped, worst first, while the prompt exceeds ``limit`` tokens; returns the
        prompt and how many chunks it holds.
        """
        hits = [i for i, _ in Router.top_k(self.router.embed([question])[0], self.matrix, k)]
        while True:
            context = "\n\n".join(self.chunks[i] for i in sorted(hits))
            ids = self.backbone.chat_prompt(in_context_question(context, question))
            if len(ids) <= limit or not hits:
                return ids, len(hits)
            hits.pop()
