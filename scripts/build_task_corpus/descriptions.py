"""Task descriptions: action phrases in generic frames with output-format hints, training and
evaluation sets disjoint by construction."""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence

N_TRAIN_DESCRIPTIONS, N_EVAL_DESCRIPTIONS = 32, 3
# (name, actions, given, formats, own) -> (training descriptions, evaluation descriptions)
Describe = Callable[..., tuple[tuple[str, ...], tuple[str, ...]]]

TRAIN_FRAMES = (
    "{A}. {F}",
    "Given {g}, {a}. {F}",
    "You are given {g}. {A}. {F}",
    "Task: {a}. {F}",
    "Please {a}. {F}",
    "Your job is to {a}. {F}",
    "Read {g} and {a}. {F}",
    "Instruction: {a}. {F}",
    "In this task you receive {g}. You must {a}. {F}",
    "The input is {g}. {A}. {F}",
    "{F} Task: {a}.",
    "Look at {g}, then {a}. {F}",
)
EVAL_FRAMES = (
    "When shown {g}, {a}. {F}",
    "I will show you {g}. I want you to {a}. {F}",
    "Objective: {a}. You will be working from {g}. {F}",
)
# The v2 corpus: one or two sentences as a user asks for a skill, always ENDING with the reply's
# format (issue 23), never a "Task:" header; evaluation frames are again disjoint.
USER_TRAIN_FRAMES = (
    "Can you {a}? {F}",
    "I need you to {a}. {F}",
    "Please {a} for me. {F}",
    "I'll send you {g}. {A}. {F}",
    "Help me {a}. {F}",
    "Could you {a}? {F}",
    "For {g}, {a}. {F}",
    "I want to {a}. {F}",
    "I'm going to paste {g}; {a}. {F}",
    "Here is {g}. {A}. {F}",
    "Quick one: {a}. {F}",
    "Your job: {a}. {F}",
    "Every message will be {g}. {A}. {F}",
    "Would you {a}? {F}",
)
USER_EVAL_FRAMES = (
    "Hey, when I give you {g}, {a}. {F}",
    "I have {g} and I'd like you to {a}. {F}",
    "Whenever you get {g}, please {a}. {F}",
)


def _or(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " or " + items[-1]


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def label_formats(labels: Sequence[str]) -> tuple[str, ...]:
    """Four training and two evaluation format hints for a fixed label set."""
    quoted = [f'"{label}"' for label in labels]
    return (
        f"Answer with {_or(labels)}.",
        f"Reply with one of: {', '.join(labels)}.",
        f"The answer must be {_or(quoted)}.",
        f"Output only the label ({' / '.join(labels)}).",
        f"Respond using exactly one of these labels: {', '.join(quoted)}.",
        f"The only valid outputs are {_and(labels)}.",
    )


OPTION_FORMATS = (
    "Choose one of the listed options and reply with it exactly.",
    "Answer with the text of the correct option.",
    "Pick the right option and copy it as your answer.",
    "Reply with the correct choice from the options given.",
    "Select the best of the offered options and write it out verbatim.",
    "Give the matching option, word for word.",
)


def answer_formats(answer: str) -> tuple[str, ...]:
    """Four training and two evaluation format hints for a free-form answer described as ``answer``."""
    return (
        f"Reply with {answer} only.",
        f"Output just {answer}.",
        f"Answer with {answer} and nothing else.",
        f"Return {answer}.",
        f"Your response should be {answer}, with no extra words.",
        f"Write only {answer}.",
    )


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _end(text: str) -> str:
    text = " ".join(text.split())
    return text if text.endswith((".", "?", "!")) else text + "."


def make_descriptions(
    name: str,
    actions: Sequence[str],
    given: Sequence[str],
    formats: Sequence[str],
    own: Sequence[str] = (),
    frames: tuple[Sequence[str], Sequence[str]] = (TRAIN_FRAMES, EVAL_FRAMES),
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(training descriptions, evaluation descriptions) of one task; disjoint by construction.

    ``actions`` and ``formats`` each end with two evaluation-only entries. ``own`` are the task's own
    descriptions (BIG-bench), used for training with a format hint appended. ``frames`` are the
    (training, evaluation) sentence frames: the v1 corpus's by default, `user_descriptions` v2's.
    """
    train_frames, eval_frames = frames
    if len(actions) < 6 or len(formats) < 6 or not given:
        raise ValueError(f"{name}: need >= 6 actions, >= 6 formats and a given phrase")
    rng = random.Random(f"descriptions:{name}")
    train_actions, eval_actions = actions[:-2], actions[-2:]
    train_formats, eval_formats = formats[:-2], formats[-2:]
    train: list[str] = []
    for text in own:
        train.append(f"{_end(text)} {rng.choice(train_formats)}")
    combos = list(itertools.product(range(len(train_actions)), range(len(train_frames))))
    rng.shuffle(combos)
    for a, f in combos:
        if len(train) >= N_TRAIN_DESCRIPTIONS:
            break
        action = train_actions[a]
        text = _cap(train_frames[f].format(A=_cap(action), a=action, g=rng.choice(given), F=rng.choice(train_formats)))
        if text not in train:
            train.append(text)
    evals = []
    for j in range(N_EVAL_DESCRIPTIONS):
        action = eval_actions[j % 2]
        evals.append(_cap(eval_frames[j].format(a=action, g=given[j % len(given)], F=eval_formats[j % 2])))
    if len(train) < N_TRAIN_DESCRIPTIONS:
        raise ValueError(f"{name}: only {len(train)} distinct training descriptions")
    if len(set(train)) != len(train) or set(train) & set(evals) or len(set(evals)) != len(evals):
        raise AssertionError(f"{name}: descriptions are not distinct")
    return tuple(train), tuple(evals)


def user_descriptions(
    name: str, actions: Sequence[str], given: Sequence[str], formats: Sequence[str], own: Sequence[str] = ()
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """`make_descriptions` in the v2 corpus's user-phrased frames: every description ends with its format."""
    return make_descriptions(name, actions, given, formats, own, frames=(USER_TRAIN_FRAMES, USER_EVAL_FRAMES))
