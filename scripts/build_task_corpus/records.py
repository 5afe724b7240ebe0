"""What every source's tasks share: example counts and limits, and a built task with its group."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lora_memory.data.task_corpus import Task, TaskExample

N_TRAIN, N_EVAL = 64, 16  # examples per task (fewer when a BIG-bench task has fewer)
MIN_EXAMPLES = 24
MAX_INPUT_CHARS = 700
MAX_TARGET_CHARS = 80


@dataclass
class Record:
    """A built task (as the corpus stores it: `Task`) and the group its held-out share is drawn from."""

    task: Task
    group: str

    @property
    def kind(self) -> str:
        """"labels" (fixed label set), "options" (per-example options) or "exact"."""
        if self.task.metric == "exact":
            return "exact"
        return "labels" if self.task.choices else "options"


def example(inp: str, target: str, options: Sequence[str] = ()) -> TaskExample:
    return TaskExample(inp, target, tuple(options))
