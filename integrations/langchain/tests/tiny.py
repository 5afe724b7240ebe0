"""Tiny core objects for the tests: the core's random 4-block Llama, a memory of four documents, a task.

Built once per process (the standard suites construct components dozens of times and pass these
through ``memory=`` / ``task=``), in seconds and without a model download.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

import torch
from lora_memory import Backbone
from lora_memory.memory import ParametricMemory
from lora_memory.task import TaskAdapter

DOCUMENTS = {
    "magic": "The special magic number is 4821.",
    "ada": "Ada Quill lives in Port Verin and works as a glassblower; her cat is called Miso.",
    "colours": "The grass is green. The sky is blue.",
    "review": "Summarise the review in one word: positive or negative.",
}
QUESTION = "What is the special magic number?"
_CORE_CONFTEST = Path(__file__).resolve().parents[3] / "tests" / "conftest.py"


@functools.cache
def tiny_backbone() -> Backbone:
    """The core test suite's tiny backbone, with an untied output head.

    With tied random embeddings the model echoes its last input token, a newline, so every answer
    strips to ""; an untied head makes it emit varied text that streaming tests can compare.
    """
    spec = importlib.util.spec_from_file_location("lora_memory_tests_conftest", _CORE_CONFTEST)
    core_tests = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(core_tests)
    backbone = core_tests.make_tiny_backbone()
    torch.manual_seed(0)
    backbone.model.lm_head.weight = torch.nn.Parameter(torch.randn_like(backbone.model.lm_head.weight))
    return backbone


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
