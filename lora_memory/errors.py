"""Exceptions raised by lora-memory; each message says what went wrong and what to do."""

from __future__ import annotations

from typing import Any


class LoraMemoryError(Exception):
    """Base class of every error this library raises on purpose."""


class BaseModelMismatchError(LoraMemoryError):
    """A checkpoint or adapter was made for a different base model than the one loaded."""


class CheckpointError(LoraMemoryError):
    """A hypernetwork checkpoint file is missing, truncated, corrupt or not ours."""


class UnsafePickleError(CheckpointError):
    """A pickled upstream checkpoint asks for something other than tensors, containers and the
    upstream config records; it is refused before anything it names is imported or run."""


class UpstreamFormatError(CheckpointError):
    """An upstream (Sakana AI) checkpoint has a layout or option this converter does not reproduce."""


class AdapterFormatError(LoraMemoryError):
    """An adapter (ours or a PEFT folder) is malformed or does not fit the backbone."""


class DocumentError(LoraMemoryError, ValueError):
    """A document is empty, too large, or not text."""


class BackboneError(LoraMemoryError):
    """The base model could not be loaded or lacks the expected structure."""


class QuestionError(LoraMemoryError, ValueError):
    """A question, or an input to a task adapter, is empty or not text."""


class PromptTooLongError(QuestionError, DocumentError):
    """A prompt (question, plus any document put in it) leaves no room in the context window.

    Both a `QuestionError` and a `DocumentError`: callers catching either see it.
    """


class ConversationError(LoraMemoryError, ValueError):
    """A chat turn or conversation setting that cannot be used: an unknown role, a turn that is
    not text, a window of no tokens."""


class InvalidIdError(LoraMemoryError, ValueError):
    """A document id is not a usable store key (empty, too long, or path-like)."""


class DocumentNotFoundError(LoraMemoryError, KeyError):
    """No document with the given id is in the memory."""

    def __str__(self) -> str:
        # KeyError's own __str__ would wrap the message in quotes.
        return BaseException.__str__(self)


class StoreError(LoraMemoryError):
    """A memory store directory is unusable: not ours, from a newer version, damaged or closed."""


class ReadOnlyStoreError(StoreError):
    """A write to a store that is open for reading only (read-only files, or ``read_only=True``)."""


class StoreBusyError(StoreError):
    """Another process held the store's write lock for longer than the store's ``busy_timeout``."""


def require_text(value: Any, what: str, error: type[LoraMemoryError]) -> str:
    """Return ``value`` when it is a non-blank string, else raise ``error`` saying what was wrong."""
    if not isinstance(value, str):
        raise error(f"the {what} must be str, got {type(value).__name__}")
    if not value.strip():
        raise error(f"the {what} is empty (or only whitespace): pass a non-empty {what}")
    check_unicode(value, what, error)
    return value


def check_unicode(value: str, what: str, error: type[LoraMemoryError]) -> str:
    """Return ``value`` when it can be stored as UTF-8, else raise ``error`` naming the first lone surrogate.

    A lone surrogate (U+D800..U+DFFF) is what decoding bytes with ``errors="surrogateescape"``
    leaves behind; it is not text, and SQLite or the tokenizer would fail on it later, after the
    expensive work.
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise error(
            f"the {what} holds a lone surrogate {value[exc.start]!r} at position {exc.start}, which is not valid "
            "Unicode text: decode the bytes with errors='replace' (or fix the source)"
        ) from None
    return value
