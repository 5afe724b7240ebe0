"""Assembly of the v2 corpus (``lora_memory/data/task_corpus_v2.json.gz``): every usable BIG-bench
JSON task, the procedural tasks and the formatting-only ones, every task in a family, all
descriptions user-phrased and ending with the reply's format; whole families held out.

The v1 corpus (``task_corpus.json.gz``) is left exactly as it was: the shipped Text-to-LoRA
checkpoint's figures were measured on its held-out split. Its held-out tasks stay held out here,
so a network trained on v2 never sees them either.
"""

from __future__ import annotations

import zlib
from collections import Counter
from pathlib import Path

from lora_memory.data.task_corpus import Task

from .bigbench import BIGBENCH, BIGBENCH_VERSION, _list_function_specs, bigbench_record, sha256
from .bigbench_all import EXCLUDED, auto_spec, exclusion, read_all
from .build import SEED, held_out
from .descriptions import N_EVAL_DESCRIPTIONS, N_TRAIN_DESCRIPTIONS, user_descriptions
from .formatting import FORMATTING
from .procedural import ORIGIN, PROCEDURAL, procedural_record
from .records import N_EVAL, N_TRAIN, Record

# Whole families held out per source (never trained on in any form), among families of
# 2..MAX_HELDOUT_FAMILY tasks; then, in every family still trained on with at least
# TASKS_PER_HELDOUT tasks, one task in TASKS_PER_HELDOUT is held out.
HELDOUT_FAMILIES = {"bigbench": 5, "procedural": 1}
MAX_HELDOUT_FAMILY = 12
TASKS_PER_HELDOUT = 8


def _crc(name: str) -> tuple[int, str]:
    return zlib.crc32(name.encode()), name


def choose_heldout_v2(records: list[Record], v1_heldout: set[str]) -> tuple[list[str], list[str]]:
    """(held-out families, held-out task names): deterministic, blind to task content."""
    families: dict[str, list[str]] = {}
    for r in records:
        families.setdefault(r.task.family, []).append(r.task.name)
    held_families: list[str] = []
    for source, k in HELDOUT_FAMILIES.items():
        pool = [f for f, names in families.items()
                if f.startswith(source + "/") and 2 <= len(names) <= MAX_HELDOUT_FAMILY]
        held_families += sorted(pool, key=_crc)[:k]
    held = {n for f in held_families for n in families[f]} | v1_heldout
    for f, names in families.items():
        if f not in held_families and len(names) >= TASKS_PER_HELDOUT:
            held.update(sorted(names, key=_crc)[: len(names) // TASKS_PER_HELDOUT])
    return sorted(held_families), sorted(held)


def build_v2(source: Path, v1_heldout: list[str]) -> tuple[dict, list[Task]]:
    """The v2 corpus header and tasks, from the bigbench sdist at ``source``; ``v1_heldout`` are
    the v1 corpus's held-out task names, kept held out."""
    hints: set[str] = set()  # every format hint used, so a test can check each description ends with one

    def describe(name: str, actions, given, formats, own=()) -> tuple[tuple[str, ...], tuple[str, ...]]:
        hints.update(formats)
        return user_descriptions(name, actions, given, formats, own)

    candidates = {c.path: c for c in read_all(source)}
    family = {path: c.family for path, c in candidates.items()}
    specs = BIGBENCH + _list_function_specs({p: c.data for p, c in candidates.items()})
    records = [bigbench_record(s, candidates[s.path].data, describe, family[s.path]) for s in specs]
    described = {s.path for s in specs}
    skipped: Counter[str] = Counter()
    for path, c in candidates.items():
        if path in described:
            continue
        why = exclusion(c)
        spec = auto_spec(c) if why is None else None
        if spec is None:
            skipped[why or "no short-answer format"] += 1
            continue
        try:
            records.append(bigbench_record(spec, c.data, describe, family[path]))
        except ValueError:
            skipped["too few usable examples"] += 1
    records += [procedural_record(p, describe, f"procedural/{p.family}") for p in PROCEDURAL + FORMATTING]
    names = [r.task.name for r in records]
    if len(set(names)) != len(names):
        raise AssertionError("duplicate task names")
    held_families, heldout = choose_heldout_v2(records, set(v1_heldout))
    held = set(heldout)
    tasks = [held_out(r.task) if r.task.name in held else r.task for r in records]
    counts: dict[str, dict[str, int]] = {}
    for t in tasks:
        counts.setdefault(t.source, {"train": 0, "heldout": 0})[t.split] += 1
    used = [candidates[r.task.origin.split("benchmark_tasks/")[1].removesuffix("/task.json")]
            for r in records if r.task.source == "bigbench"]
    canaries = {" ".join(c) if isinstance(c, list) else c for c in (u.data.get("canary") for u in used)}
    return {
        "built_by": ORIGIN + " (v2)",
        "seed": SEED,
        "examples_per_task": {"train": N_TRAIN, "eval": N_EVAL},
        "descriptions_per_task": {"train": N_TRAIN_DESCRIPTIONS, "eval": N_EVAL_DESCRIPTIONS},
        "descriptions": "user-phrased, one or two sentences, each ending with the format of the reply",
        "format_hints": sorted(hints),
        "sources": {
            "bigbench": {
                "what": "every BIG-bench JSON task with a short answer that is English and BIG-bench's own data",
                "package": f"bigbench=={BIGBENCH_VERSION} (PyPI source distribution)",
                "sdist": source.name,
                "sdist_sha256": sha256(source),
                "homepage": "https://github.com/google/BIG-bench",
                "license": "Apache-2.0",
                "canary": sorted(c for c in canaries if c),
                "note": "BIG-bench asks that its data not appear in (pre)training corpora; the canary above marks it. "
                        "Training tasks here are meta-training data, so scores on them are not benchmark results; "
                        "held-out BIG-bench tasks are never trained on.",
                "excluded": EXCLUDED,
                "skipped": dict(sorted(skipped.items())),
            },
            "procedural": {
                "what": f"tasks generated by {ORIGIN} from made-up words and random numbers, formatting-only "
                        "tasks among them",
                "license": "Apache-2.0",
            },
        },
        "families": dict(sorted(Counter(t.family for t in tasks).items())),
        "heldout_families": held_families,
        "heldout": heldout,
        "heldout_rule": (
            "whole families per source (" + ", ".join(f"{s}: {k}" for s, k in HELDOUT_FAMILIES.items())
            + f"), those of 2..{MAX_HELDOUT_FAMILY} tasks with the smallest zlib.crc32 of the family name; "
            "the v1 corpus's held-out tasks; in every other family of at least "
            f"{TASKS_PER_HELDOUT} tasks, one in {TASKS_PER_HELDOUT} by smallest crc32 of the task name"
        ),
        "counts": counts,
    }, tasks
