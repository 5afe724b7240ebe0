"""The Text-to-LoRA measurement's task: a description, three demonstrations and query inputs.

A small built-in task keeps the benchmark self-contained; ``--t2l-tasks FILE`` reads another
from JSON with the same fields: ``{"name", "description", "shots": [{"input", "output"}, ...],
"inputs": [...]}``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from lora_memory.backbone import Backbone
from lora_memory.hypernets.text2lora import TextToLoRA


@dataclass(frozen=True)
class BenchTask:
    """The benchmark's one task (a corpus task is `lora_memory.data.task_corpus.Task`)."""

    name: str
    description: str
    shots: tuple[tuple[str, str], ...]
    inputs: tuple[str, ...]


BUILTIN = BenchTask(
    name="review-sentiment",
    description="Read the product review and reply with its sentiment, positive or negative, in one word.",
    shots=(
        ("The blender is loud but it crushes ice in seconds and cleans up easily. Worth every penny.", "positive"),
        ("Arrived with a cracked lid and the seller never answered my emails. Avoid.", "negative"),
        ("Battery lasts two full days and the screen is bright even outdoors. Very happy.", "positive"),
    ),
    inputs=(
        "The zipper broke the first week and the stitching is already coming apart.",
        "Comfortable, warm and it still looks new after a whole winter of daily use.",
        "Stopped charging after a month; customer support kept sending me in circles.",
        "Setup took five minutes and the picture quality blew me away.",
        "The pan warped on the first use and food sticks to everything.",
        "My kids love it, it survived countless drops, and the colours are great.",
        "Instructions were missing and two screws were the wrong size.",
        "Fast shipping, fair price, exactly as described. Would buy again.",
    ),
)


def load_task(path: str | os.PathLike | None) -> BenchTask:
    """The task in ``path`` (JSON), or the built-in one."""
    if path is None:
        return BUILTIN
    data = json.loads(open(path, encoding="utf-8").read())
    return BenchTask(
        name=str(data.get("name", os.path.basename(str(path)))),
        description=str(data["description"]),
        shots=tuple((str(s["input"]), str(s["output"])) for s in data["shots"]),
        inputs=tuple(str(x) for x in data["inputs"]),
    )


def few_shot_prompt(backbone: Backbone, net: TextToLoRA, task: BenchTask, x: str) -> list[int]:
    """The in-context baseline: instruction, the demonstrations, then the input, in one user turn,
    under the same system turn as ``net``'s adapter prompts so only the task's tokens differ."""
    demos = "\n\n".join(f"Input: {i}\nOutput: {o}" for i, o in task.shots)
    return net.prompt(backbone, f"{task.description}\n\n{demos}\n\nInput: {x}\nOutput:")
