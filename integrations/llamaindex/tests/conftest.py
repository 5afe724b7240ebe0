"""Fixtures on the core test suite's tiny random Llama: seconds to build, no model download."""

from __future__ import annotations

import pytest
from pathlib import Path
from llama_index.core import Document
from lora_memory import Backbone
from lora_memory.testing import untied_backbone
from lora_memory.task import TaskAdapter

from llama_index.indices.lora_memory import ParametricMemoryIndex

QUESTION = "What is the special magic number?"


@pytest.fixture(scope="session")
def backbone() -> Backbone:
    """The core's tiny backbone with an untied head, so answers are varied text, not empty."""
    return untied_backbone()


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
