"""A conversation whose old turns live in adapters: the prompt stays the same size however long it runs.

`ConversationMemory` keeps one session's turns. The most recent ones, up to ``window_tokens``,
stay text (they go into the prompt as chat history); a turn pushed out of that window is
internalized into a `ParametricMemory` (Doc-to-LoRA), one document per turn, under the id
``<session>:turn-<n>`` with metadata ``{"conversation": session, "turn": n, "role": ...}``. A
question is then answered with the window as history and the adapters of the routed turns (and
of any documents the memory holds) applied, so what was said 200 turns ago can still be known
while the prompt stays small. Measured recall against a buffer window of the same prompt size:
BENCHMARKS.md, "Long conversations".

The turns themselves are kept in a small SQLite file (``log``), shared by every session, so a
session reopens where it stopped; `clear` deletes a session's turns and its internalized
documents. Routing reads the whole memory: give each user their own memory when sessions must
not see each other's turns.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from lora_memory.chat import Turn, as_turns, recent_turns
from lora_memory.errors import ConversationError
from lora_memory.memory import MemoryAnswer, ParametricMemory
from lora_memory.store import validate_id

WINDOW_TOKENS = 256
SCHEMA = """CREATE TABLE IF NOT EXISTS turns (
    session TEXT NOT NULL, position INTEGER NOT NULL, role TEXT NOT NULL, text TEXT NOT NULL,
    internalized INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (session, position))"""


def turn_document(turn: Turn) -> str:
    """The text a turn is internalized as: who said it, then what was said."""
    return f"{turn.role.capitalize()}: {turn.text}"


class ConversationMemory:
    """One session of a conversation: recent turns as text, older turns internalized.

    Args:
        memory: where old turns are internalized (it may hold documents too; it is not closed here).
        session_id: the conversation's id (a valid document id: no ``/``, ``\\`` or ``..``).
        log: SQLite file keeping every session's turns across restarts (created when missing);
            None keeps them in this object only (the internalized turns persist with the memory
            either way).
        window_tokens: most tokens of recent turns kept as text, newest whole turns first
            (`lora_memory.chat.recent_turns`); a turn leaving it is internalized. 0 internalizes
            every turn as it comes (for a framework that keeps its own window of recent turns).
    """

    def __init__(
        self,
        memory: ParametricMemory,
        session_id: str,
        *,
        log: str | os.PathLike | None = None,
        window_tokens: int = WINDOW_TOKENS,
    ):
        if window_tokens < 0:
            raise ConversationError(f"window_tokens must be >= 0, got {window_tokens}")
        self.memory = memory
        self.session_id = validate_id(session_id)
        self.window_tokens = window_tokens
        self._lock = threading.Lock()
        self._db = sqlite3.connect(":memory:" if log is None else Path(log), check_same_thread=False)
        with self._db:
            self._db.execute(SCHEMA)

    # ---- turns -------------------------------------------------------------------------------
    def turns(self) -> list[Turn]:
        """Every turn of the session, oldest first (internalized ones included: the transcript)."""
        return [Turn(r, t) for r, t in self._rows("")]

    def recent(self) -> list[Turn]:
        """The turns still held as text: what goes into the prompt."""
        return [Turn(r, t) for r, t in self._rows("AND internalized = 0")]

    def _rows(self, where: str) -> list[tuple[str, str]]:
        with self._lock:
            return self._db.execute(
                f"SELECT role, text FROM turns WHERE session = ? {where} ORDER BY position", (self.session_id,)
            ).fetchall()

    def add(self, role: str, text: str) -> None:
        """Append one turn (``user`` or ``assistant``); turns leaving the window are internalized."""
        self.add_turns([Turn(role, text)])

    def add_turns(self, turns: Iterable[Turn | tuple[str, str]]) -> None:
        """Append turns, oldest first, then internalize those the window no longer holds.

        The turns are logged before anything is internalized, and a turn is marked internalized
        only once its adapter is stored, so a failure leaves it in the window to retry.
        """
        turns = as_turns(turns)
        with self._lock, self._db:
            start = self._db.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM turns WHERE session = ?", (self.session_id,)
            ).fetchone()[0]
            self._db.executemany(
                "INSERT INTO turns (session, position, role, text) VALUES (?, ?, ?, ?)",
                [(self.session_id, start + i, t.role, t.text) for i, t in enumerate(turns)],
            )
        self._internalize_overflow()

    def _internalize_overflow(self) -> None:
        with self._lock:
            rows = self._db.execute(
                "SELECT position, role, text FROM turns WHERE session = ? AND internalized = 0 ORDER BY position",
                (self.session_id,),
            ).fetchall()
        pending = [Turn(r, t) for _, r, t in rows]
        kept = len(recent_turns(self.memory.backbone, pending, self.window_tokens))
        leaving = rows[: len(rows) - kept]
        if not leaving:
            return
        self.memory.add_documents(
            [turn_document(Turn(r, t)) for _, r, t in leaving],
            ids=[self.document_id(p) for p, _, _ in leaving],
            metadatas=[{"conversation": self.session_id, "turn": p, "role": r} for p, r, _ in leaving],
            progress=False,
        )
        with self._lock, self._db:
            self._db.executemany(
                "UPDATE turns SET internalized = 1 WHERE session = ? AND position = ?",
                [(self.session_id, p) for p, _, _ in leaving],
            )

    def document_id(self, position: int) -> str:
        """The memory's id for the session's turn at ``position``."""
        return f"{self.session_id}:turn-{position}"

    # ---- answering ---------------------------------------------------------------------------
    def ask(self, question: str, *, system: str | None = None, **kwargs) -> MemoryAnswer:
        """Answer with the recent turns as chat history and the routed adapters applied.

        ``kwargs`` go to `ParametricMemory.ask` (``k``, ``max_new_tokens``). The question and
        answer are not added: call `add` with them to keep the conversation going.
        """
        return self.memory.ask(question, system=system, history=self.recent(), **kwargs)

    # ---- lifetime ----------------------------------------------------------------------------
    def clear(self) -> None:
        """Delete the session: its logged turns and every document internalized from them."""
        with self._lock:
            positions = [p for (p,) in self._db.execute(
                "SELECT position FROM turns WHERE session = ? AND internalized = 1", (self.session_id,)
            )]
        for position in positions:
            if self.document_id(position) in self.memory:
                self.memory.delete(self.document_id(position))
        with self._lock, self._db:
            self._db.execute("DELETE FROM turns WHERE session = ?", (self.session_id,))

    def internalized_ids(self) -> list[str]:
        """Ids of the session's turns held in the memory, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT position FROM turns WHERE session = ? AND internalized = 1 ORDER BY position",
                (self.session_id,),
            ).fetchall()
        return [self.document_id(p) for (p,) in rows]

    def close(self) -> None:
        """Close the log (the memory stays open: it belongs to the caller)."""
        with self._lock:
            self._db.close()

    def __enter__(self) -> ConversationMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

