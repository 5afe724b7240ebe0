"""Exceptions raised by lora-memory; each message says what went wrong and what to do."""

from __future__ import annotations


class LoraMemoryError(Exception):
    """Base class of every error this library raises on purpose."""


class BaseModelMismatchError(LoraMemoryError):
    """A checkpoint or adapter was made for a different base model than the one loaded."""


class CheckpointError(LoraMemoryError):
    """A hypernetwork checkpoint file is missing, truncated, corrupt or not ours."""


class AdapterFormatError(LoraMemoryError):
    """An adapter (ours or a PEFT folder) is malformed or does not fit the backbone."""


class DocumentError(LoraMemoryError, ValueError):
    """A document is empty, too large, or not text."""


class BackboneError(LoraMemoryError):
    """The base model could not be loaded or lacks the expected structure."""
