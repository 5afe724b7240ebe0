"""Shared fixtures over `lora_memory.testing`'s tiny random models."""

from __future__ import annotations

import pytest

from lora_memory import Backbone
from lora_memory.testing import (  # noqa: F401  (re-exported for the test modules)
    lively_backbone,
    lively_doc2lora,
    make_tiny_backbone,
    random_adapter,
    tiny_tokenizer,
)


@pytest.fixture(scope="module")
def lively() -> Backbone:
    return lively_backbone()


@pytest.fixture(scope="module")
def lively_net(lively):
    return lively_doc2lora(lively)


@pytest.fixture(scope="session")
def backbone() -> Backbone:
    return make_tiny_backbone()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, backbone: Backbone):
    """The tiny backbone saved as a Hugging Face model directory (for PEFT and loading tests)."""
    path = tmp_path_factory.mktemp("tiny-model")
    backbone.model.save_pretrained(path)
    backbone.tokenizer.save_pretrained(path)
    return path
