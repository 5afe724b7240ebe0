"""Tiny core objects for the tests: the core's random 4-block Llama, a memory of four documents, a task.

Built once per process (the standard suites construct components dozens of times and pass these
through ``memory=`` / ``task=``), in seconds and without a model download.
"""

from __future__ import annotations

import functools

from lora_memory import Backbone
from lora_memory.testing import untied_backbone
from lora_memory.memory import ParametricMemory
from lora_memory.task import TaskAdapter

DOCUMENTS = {
    "magic": "The special magic number is 4821.",
    "ada": "Ada Quill lives in Port Verin and works as a glassblower; her cat is called Miso.",
    "colours": "The grass is green. The sky is blue.",
    "review": "Summarise the review in one word: positive or negative.",
}
QUESTION = "What is the special magic number?"


@functools.cache
def tiny_backbone() -> Backbone:
    """The core's tiny backbone with an untied head, so answers are varied text, not empty."""
    return untied_backbone()


@functools.cache
def tiny_memory() -> ParametricMemory:
    memory = ParametricMemory(backbone=tiny_backbone(), max_new_tokens=8)
    memory.add_documents(
        list(DOCUMENTS.values()), ids=list(DOCUMENTS), metadatas=[{"source": i} for i in DOCUMENTS], progress=False
    )
    return memory


@functools.cache
def tiny_task() -> TaskAdapter:
    return TaskAdapter("Answer with the sentiment: positive or negative.", backbone=tiny_backbone(), max_new_tokens=8)
