"""The Text-to-LoRA task corpus: tasks, their natural-language descriptions and examples.

The corpus ships as ``lora_memory/data/task_corpus.json.gz`` (gzip JSON, never pickle) and is rebuilt by
``python -m scripts.build_task_corpus``, which writes tasks through `Task.to_dict` and `write_corpus`,
so the builder and this reader share one schema. It mixes two sources:

* ``bigbench``: a filtered subset of BIG-bench JSON tasks (Apache-2.0) with short answers;
* ``procedural``: generated string, formatting, extraction, arithmetic and keyword-rule tasks whose
  inputs come from an open vocabulary (made-up words, random numbers), so answers cannot be memorised.

Each task is either in ``train`` (meta-training) or ``heldout`` (never trained on, for evaluating
generalisation to unseen tasks). Every task has training descriptions (paraphrases, for meta-training)
and a disjoint set of evaluation descriptions (for evaluation, as upstream T2L evaluates each held-out
task with three held-out descriptions). Held-out tasks keep a few ``train`` examples, meant only as
shots for few-shot baselines.

Metrics: ``exact`` means the answer is the target string (compare after stripping surrounding
whitespace; case and punctuation matter for formatting tasks). ``choice`` means the answer is one of a
candidate set: the task's fixed ``choices`` (labels such as yes / no) or, when ``choices`` is None, the
example's own ``options`` (which the input also lists, as ``Options: a | b | c``).

Controls: :func:`garbage_description` (word salad) and :func:`mismatched_description` (another task's
description) give adapters that should NOT help, which is how an evaluation shows the description matters.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

FORMAT = "lora-memory/task-corpus"
VERSION = 1
TASK_SPLITS = ("train", "heldout")
METRICS = ("exact", "choice")
SOURCES = ("bigbench", "procedural")


@dataclass(frozen=True)
class TaskExample:
    """One input and its reference answer; ``options`` are the candidates of a per-example choice task."""

    input: str
    target: str
    options: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"input": self.input, "target": self.target} | ({"options": list(self.options)} if self.options else {})


@dataclass(frozen=True)
class Task:
    """A task: where it comes from, how it is described, its examples and how answers are scored."""

    name: str
    source: str
    license: str
    split: str
    descriptions_train: tuple[str, ...]
    descriptions_eval: tuple[str, ...]
    train: tuple[TaskExample, ...]
    eval: tuple[TaskExample, ...]
    metric: str
    choices: tuple[str, ...] | None
    origin: str = ""
    family: str = ""  # tasks sharing a source and skill ("bigbench/arithmetic"); "" in the v1 corpus

    def to_dict(self) -> dict:
        """The task as the corpus file stores it (`from_dict` reads it back); ``family`` only when
        set, so a corpus without families is byte for byte what it was before the field existed."""
        return {
            "name": self.name,
            "source": self.source,
            "license": self.license,
            "origin": self.origin,
            "split": self.split,
            "metric": self.metric,
            "choices": list(self.choices) if self.choices is not None else None,
            "descriptions_train": list(self.descriptions_train),
            "descriptions_eval": list(self.descriptions_eval),
            "train": [e.to_dict() for e in self.train],
            "eval": [e.to_dict() for e in self.eval],
        } | ({"family": self.family} if self.family else {})

    @classmethod
    def from_dict(cls, row: dict) -> Task:
        """A task from the corpus file, checked: a bad split or metric, or no descriptions or
        evaluation examples, raise `ValueError`."""

        def examples(rows: list[dict]) -> tuple[TaskExample, ...]:
            return tuple(TaskExample(r["input"], r["target"], tuple(r.get("options", ()))) for r in rows)

        task = cls(
            name=row["name"],
            source=row["source"],
            license=row["license"],
            split=row["split"],
            descriptions_train=tuple(row["descriptions_train"]),
            descriptions_eval=tuple(row["descriptions_eval"]),
            train=examples(row["train"]),
            eval=examples(row["eval"]),
            metric=row["metric"],
            choices=tuple(row["choices"]) if row.get("choices") is not None else None,
            origin=row.get("origin", ""),
            family=row.get("family", ""),
        )
        if task.split not in TASK_SPLITS or task.metric not in METRICS:
            raise ValueError(f"{task.name}: bad split {task.split!r} or metric {task.metric!r}")
        if not task.descriptions_train or not task.descriptions_eval or not task.eval:
            raise ValueError(f"{task.name}: missing descriptions or evaluation examples")
        return task

    def candidates(self, example: TaskExample) -> tuple[str, ...] | None:
        """The answers a ``choice`` task may give for ``example`` (None for ``exact`` tasks)."""
        if self.metric != "choice":
            return None
        return self.choices if self.choices else example.options


SHIPPED = {"v1": "task_corpus.json.gz", "v2": "task_corpus_v2.json.gz"}


def default_path(name: str = "v1") -> Path:
    """A corpus shipped inside the package: ``v1`` (the default, what the shipped Text-to-LoRA
    checkpoint was trained and evaluated on) or ``v2`` (larger, user-phrased, held-out families)."""
    if name not in SHIPPED:
        raise ValueError(f"shipped corpora are {sorted(SHIPPED)}, got {name!r}")
    return Path(str(resources.files("lora_memory") / "data" / SHIPPED[name]))


def _resolve(path: str | Path | None) -> Path:
    """None -> the default corpus; a shipped name ("v1", "v2") -> its file; else the path itself."""
    if path is None:
        return default_path()
    return default_path(path) if isinstance(path, str) and path in SHIPPED else Path(path)


def _read(path: str | Path | None) -> dict:
    path = _resolve(path)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        data = json.load(f)
    if data.get("format") != FORMAT or data.get("version") != VERSION:
        raise ValueError(f"{path}: not a {FORMAT} v{VERSION} file (format={data.get('format')!r}, "
                         f"version={data.get('version')!r})")
    return data


def write_corpus(header: dict, tasks: Sequence[Task], path: str | Path) -> int:
    """Write a corpus file (gzip JSON, byte-reproducible) and return its size in bytes: ``header``
    (sources, licences, held-out rule, counts, ...) with this format's tag and ``tasks``."""
    corpus = {"format": FORMAT, "version": VERSION, **header, "tasks": [t.to_dict() for t in tasks]}
    data = json.dumps(corpus, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    blob = gzip.compress(data, compresslevel=9, mtime=0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(blob)
    return len(blob)


@lru_cache(maxsize=4)
def _load(path: str | None) -> tuple[tuple[Task, ...], dict]:
    data = _read(path)
    tasks = tuple(Task.from_dict(row) for row in data["tasks"])
    header = {k: v for k, v in data.items() if k != "tasks"}
    return tasks, header


def _key(path: str | Path | None) -> str | None:
    return None if path is None else str(_resolve(path).resolve())


def load_corpus(path: str | Path | None = None) -> list[Task]:
    """All tasks of the corpus at ``path`` (default: the shipped v1; "v1" / "v2" name a shipped
    corpus), in file order."""
    return list(_load(_key(path))[0])


def corpus_header(path: str | Path | None = None) -> dict:
    """Everything in the corpus file but the tasks: sources, licences, canary, held-out list and rule, counts."""
    return json.loads(json.dumps(_load(_key(path))[1]))  # a copy the caller may change


def tasks_in(tasks: Sequence[Task], split: str) -> list[Task]:
    """The tasks of one split ("train" or "heldout")."""
    if split not in TASK_SPLITS:
        raise ValueError(f"split must be one of {TASK_SPLITS}, got {split!r}")
    return [t for t in tasks if t.split == split]


# ---------------------------------------------------------------------------------------------------
# Controls

# Everyday words with no bearing on any task: no task verbs (count, sort, reverse, ...), no labels
# (yes, no, true, positive, ...), no format words (letter, number, list, word, ...).
_SALAD = (
    "window", "gentle", "orbit", "carry", "velvet", "harbor", "mellow", "lantern", "drift", "pepper", "quiet",
    "marble", "wander", "saddle", "crimson", "thistle", "ripple", "meadow", "copper", "whistle", "tangle",
    "pillow", "ember", "canyon", "linger", "basket", "frost", "hollow", "cinnamon", "ladder", "breeze", "puzzle",
    "anchor", "blossom", "kettle", "shimmer", "timber", "glacier", "stumble", "orchard", "feather", "rustle",
    "candle", "pebble", "thunderous", "sparrow", "tunnel", "velvety", "gallop", "nectar", "spindle", "lumber",
    "horizon", "crumble", "mosaic", "paddle", "silken", "beacon", "saffron", "wobble", "cobalt", "meander",
    "parcel", "tremble", "juniper", "blanket", "fable", "galaxy", "humble", "jasmine", "kindle", "lagoon",
    "mantle", "noodle", "oyster", "pastel", "quiver", "ribbon", "sapphire", "tundra", "umbrella", "vapor",
    "walnut", "yonder", "zephyr", "amber", "bramble", "cactus", "dapple", "eagle", "fennel", "gravel", "hazel",
    "ivory", "jungle", "kelp", "lilac", "mango", "nimble", "opal", "prairie", "quartz", "raven", "sorrel",
    "tinsel", "urchin", "valley", "willow", "acorn", "biscuit", "cider", "dune", "elbow", "fjord", "goblet",
    "hammock", "igloo", "jigsaw", "kayak", "locket", "mitten", "nutmeg", "otter", "pumpkin", "quilt", "rafter",
    "satchel", "teapot", "utensil", "vessel", "wicker", "yarn", "zinnia", "slowly", "softly", "bright", "heavy",
    "distant", "ancient", "curious", "fragile", "golden", "hidden", "silent", "sturdy", "tender", "wooden",
    "brisk", "dusty", "foggy", "rusty", "sleepy", "swift", "under", "beside", "beyond", "among", "toward",
    "perhaps", "often", "somewhere", "meanwhile", "carefully", "gathers", "borrows", "polishes", "follows",
    "whispers", "painted", "folded", "buried", "floating", "humming", "leaning", "melting", "sailing",
)


def garbage_description(rng: random.Random) -> str:
    """A word-salad "description" (8-20 unrelated everyday words): the control that carries no task."""
    n = rng.randint(8, 20)
    words = [rng.choice(_SALAD) for _ in range(n)]
    if n > 12:  # two "sentences" now and then, so length and shape vary like real descriptions
        cut = rng.randint(5, n - 5)
        return f"{' '.join(words[:cut]).capitalize()}. {' '.join(words[cut:]).capitalize()}."
    return " ".join(words).capitalize() + "."


def mismatched_description(task: Task, tasks: Sequence[Task], rng: random.Random, which: str = "eval") -> str:
    """A description of ANOTHER task (the control for "does the adapter follow the description?").

    Prefers a task with a different answer format (another metric, or other labels), so following the
    wrong description visibly gives wrong answers. ``which`` picks that task's "train" or "eval" set.
    """
    if which not in ("train", "eval"):
        raise ValueError(f"which must be 'train' or 'eval', got {which!r}")
    others = [t for t in tasks if t.name != task.name]
    if not others:
        raise ValueError("need at least one other task")
    unlike = [t for t in others if (t.metric, t.choices) != (task.metric, task.choices)]
    other = rng.choice(unlike or others)
    own = set(task.descriptions_train) | set(task.descriptions_eval)
    pool = [d for d in (other.descriptions_eval if which == "eval" else other.descriptions_train) if d not in own]
    return rng.choice(pool)
