"""What the benchmark sections share: the models, the documents and what is derived from them.

Documents, their Doc-to-LoRA adapters and their RAG indexes are built once per length and reused
by every section, so a section run alone builds what it needs (untimed) and a full run builds
each thing once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lora_memory.adapter import LoraAdapter
from lora_memory.backbone import Backbone
from lora_memory.bench.config import BenchConfig
from lora_memory.bench.documents import BenchDocument, RagIndex, make_document
from lora_memory.bench.timing import Measurement, measure
from lora_memory.hypernets.doc2lora import DocToLoRA, internalize
from lora_memory.hypernets.text2lora import TextToLoRA
from lora_memory.router import Encoder, Router


@dataclass
class Workspace:
    config: BenchConfig
    backbone: Backbone
    d2l: DocToLoRA
    t2l_factory: Callable[[], TextToLoRA]
    encoder: Encoder | None = None
    docs: dict[int, BenchDocument] = field(default_factory=dict)
    adapters: dict[int, LoraAdapter] = field(default_factory=dict)
    indexes: dict[int, RagIndex] = field(default_factory=dict)
    _router: Router | None = None
    _t2l: TextToLoRA | None = None

    # ---- shared objects --------------------------------------------------------------------
    @property
    def router(self) -> Router:
        if self._router is None:
            self._router = Router(self.encoder) if self.encoder is not None else Router.default(self.backbone)
        return self._router

    @property
    def t2l(self) -> TextToLoRA:
        if self._t2l is None:
            self._t2l = self.t2l_factory()
        return self._t2l

    def doc(self, length: int, seed_offset: int = 0) -> BenchDocument:
        key = length if seed_offset == 0 else -(length * 1000 + seed_offset)
        if key not in self.docs:
            self.docs[key] = make_document(self.backbone, length, self.config.seed + seed_offset)
        return self.docs[key]

    def adapter(self, length: int) -> LoraAdapter:
        if length not in self.adapters:
            self.adapters[length] = internalize(self.backbone, self.d2l, self.doc(length).text)
        return self.adapters[length]

    def index(self, length: int) -> RagIndex:
        if length not in self.indexes:
            self.indexes[length] = RagIndex(self.backbone, self.router, self.doc(length), self.config.rag_chunk_tokens)
        return self.indexes[length]

    # ---- timing ----------------------------------------------------------------------------
    def timed(self, fn: Callable[[], Any], *, warmup: int | None = None) -> tuple[Measurement, Any]:
        """``fn`` measured with the run's repeats, warm-up and device."""
        return measure(
            fn,
            device=self.backbone.device,
            repeats=self.config.repeats,
            warmup=self.config.warmup if warmup is None else warmup,
        )
