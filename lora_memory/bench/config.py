"""`BenchConfig`: one benchmark run; every field is also a ``lora-memory bench`` flag."""

from __future__ import annotations

from dataclasses import dataclass

from lora_memory.config import ResultsConfig

SECTIONS = ("update", "query", "state", "batch", "t2l")


@dataclass
class BenchConfig(ResultsConfig):
    """A benchmark run; every field is also a ``lora-memory bench`` flag.

    Attributes:
        out: directory for results.json, summary.md and the PNG figures.
        checkpoint: doc2lora checkpoint (None = the shipped one, else a fresh network).
        t2l_checkpoint: text2lora checkpoint (None = the shipped one, else a fresh network).
        lengths: comma-separated document lengths in tokens.
        repeats: timed repeats per measurement (median and spread are reported).
        warmup: untimed calls before the timed repeats.
        new_tokens: tokens decoded per full answer (forced: EOS is suppressed so every method
            decodes the same count).
        cd_steps: Adam steps of the context-distillation baseline.
        cd_lr: learning rate of the context-distillation baseline.
        rag_k: chunks retrieved into the prompt by the vector-store RAG baseline.
        rag_chunk_tokens: tokens per RAG chunk.
        batch: requests (each with its own adapter) in the batched-serving measurement.
        t2l_new_tokens: tokens decoded per T2L / 3-shot query (the built-in task's answer is one word).
        t2l_tasks: optional JSON file with a task (description, shots, inputs) for the T2L
            measurement; default: a small built-in sentiment task.
        threads: torch CPU threads (default: torch's choice).
        sections: comma-separated subset of update,query,state,batch,t2l.
        seed: seeds the documents.
    """

    out: str = "runs/bench"
    seed: int = 1234
    t2l_checkpoint: str | None = None
    lengths: str = "256,1024,4096,8192,32768"
    repeats: int = 3
    warmup: int = 1
    new_tokens: int = 32
    cd_steps: int = 50
    cd_lr: float = 1e-2
    rag_k: int = 3
    rag_chunk_tokens: int = 256
    batch: int = 8
    t2l_new_tokens: int = 4
    t2l_tasks: str | None = None
    threads: int | None = None
    sections: str = ",".join(SECTIONS)

    def length_list(self) -> list[int]:
        return [int(n) for n in self.lengths.split(",") if n.strip()]

    def section_list(self) -> list[str]:
        names = [s.strip() for s in self.sections.split(",") if s.strip()]
        unknown = sorted(set(names) - set(SECTIONS))
        if unknown:
            raise ValueError(f"unknown bench sections {unknown}; choose from {','.join(SECTIONS)}")
        return names
