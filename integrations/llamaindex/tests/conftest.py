"""Fixtures on the core test suite's tiny random Llama: seconds to build, no model download."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch
from llama_index.core import Document
from lora_memory import Backbone
from lora_memory.task import TaskAdapter

from llama_index.indices.lora_memory import ParametricMemoryIndex

QUESTION = "What is the special magic number?"
_CORE_CONFTEST = Path(__file__).resolve().parents[3] / "tests" / "conftest.py"


@pytest.fixture(scope="session")
def backbone() -> Backbone:
    """The core's tiny backbone, with an untied output head.

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


@pytest.fixture
def documents() -> list[Document]:
    return [
        Document(text="The special magic number is 4821.", id_="magic", metadata={"source": "notes.md"}),
        Document(
            text="Ada Quill lives in Port Verin; her cat is called Miso.", id_="ada", metadata={"source": "ada.md"}
        ),
        Document(text="The grass is green. The sky is blue.", id_="colours"),
    ]


@pytest.fixture
def index(tmp_path: Path, backbone: Backbone, documents: list[Document]) -> ParametricMemoryIndex:
    return ParametricMemoryIndex.from_documents(
        documents, persist_dir=tmp_path / "storage", backbone=backbone, max_new_tokens=8
    )


@pytest.fixture(scope="session")
def task(backbone: Backbone) -> TaskAdapter:
    return TaskAdapter("Answer with the sentiment: positive or negative.", backbone=backbone, max_new_tokens=8)
