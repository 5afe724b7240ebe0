"""Chat prompts over a conversation: which recent turns fit a token window, and a turn carrying text.

`ParametricMemory` answers a question with its adapters on top of whatever chat the caller
holds: a system turn and the most recent turns, cut to a token window so that the prompt stays
the same size however long the conversation runs (older turns are the adapters' job:
`lora_memory.conversation`). The same prompt carries the routed documents' text when an answer
falls back to retrieval (`with_context`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from lora_memory.backbone import Backbone
from lora_memory.errors import ConversationError
from lora_memory.generation import in_context_question

ROLES = ("user", "assistant")
TURN_OVERHEAD = 5  # tokens a chat template adds around each turn (SmolLM2: <|im_start|>role\n...<|im_end|>\n)


@dataclass(frozen=True)
class Turn:
    """One message of a conversation.

    Attributes:
        role: ``user`` or ``assistant`` (system instructions are passed apart, as ``system``).
        text: what was said.
    """

    role: str
    text: str

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ConversationError(f"a turn's role must be one of {ROLES}, got {self.role!r}")
        if not isinstance(self.text, str):
            raise ConversationError(f"a turn's text must be a str, got {type(self.text).__name__}")


def as_turns(turns: Iterable[Turn | tuple[str, str]]) -> list[Turn]:
    """Turns given as `Turn` or ``(role, text)`` pairs, checked."""
    return [t if isinstance(t, Turn) else Turn(*t) for t in turns]


def turn_tokens(backbone: Backbone, turn: Turn) -> int:
    """Tokens ``turn`` adds to a chat prompt (its text plus the template's wrapping)."""
    return len(backbone.tokenize(turn.text)) + TURN_OVERHEAD


def recent_turns(backbone: Backbone, turns: Sequence[Turn], max_tokens: int | None) -> list[Turn]:
    """The newest turns whose tokens add up to at most ``max_tokens`` (None: all of them).

    Whole turns only, newest first until the next one would overflow: an older turn never
    reappears after a newer one was dropped.
    """
    if max_tokens is None:
        return list(turns)
    if max_tokens < 0:
        raise ConversationError(f"a window of recent turns needs max_tokens >= 0, got {max_tokens}")
    kept: list[Turn] = []
    used = 0
    for turn in reversed(turns):
        used += turn_tokens(backbone, turn)
        if used > max_tokens:
            break
        kept.append(turn)
    return kept[::-1]


@dataclass(frozen=True)
class ChatRequest:
    """What `ParametricMemory.ask` takes from a framework's list of chat messages.

    Attributes:
        question: the last user message (routing reads it alone).
        system: the system messages joined, or None for none.
        history: the user and assistant turns before the question, cut to a token window.
    """

    question: str
    system: str | None
    history: list[Turn]

    def arguments(self) -> dict[str, object]:
        """Keyword arguments of `ParametricMemory.ask` / ``stream``."""
        return {"question": self.question, "system": self.system, "history": self.history}


def chat_request(
    backbone: Backbone, messages: Sequence[tuple[str, str]], history_tokens: int | None
) -> ChatRequest:
    """A chat of ``(role, text)`` messages as a question, a system turn and recent history.

    Roles are ``system``, ``user`` and ``assistant``; other messages (tool calls, tool results)
    have no place in the chat template and are left out. The turns before the last user message
    are cut to their newest ``history_tokens`` (0: none; None: all), so the prompt stays the same
    size however long the chat runs.

    Raises:
        ConversationError: no user message to answer.
    """
    last = next((i for i in range(len(messages) - 1, -1, -1) if messages[i][0] == "user"), None)
    if last is None:
        raise ConversationError("a chat needs a user message to answer")
    systems = [text for role, text in messages if role == "system"]
    turns = [Turn(role, text) for role, text in messages[:last] if role in ROLES]
    history = recent_turns(backbone, turns, history_tokens) if turns and history_tokens != 0 else []
    return ChatRequest(messages[last][1], "\n\n".join(systems) if systems else None, history)


def with_context(backbone: Backbone, context: str, question: str, max_context_tokens: int) -> str:
    """The user turn that puts ``context`` (routed documents' text) before ``question``.

    The context's head is kept when it has more than ``max_context_tokens`` tokens, so the
    prompt fits the window whatever was routed.
    """
    ids = backbone.tokenize(context)
    if len(ids) > max_context_tokens:
        context = backbone.tokenizer.decode(ids[: max(0, max_context_tokens)])
    return in_context_question(context, question)
