"""The shipped Text-to-LoRA task corpus: sizes, splits, descriptions, licences, controls, correct answers."""

import gzip
import json
import random
import re
import tomllib
from collections import Counter
from pathlib import Path

import pytest

from lora_memory.data.synthetic import word_split
from lora_memory.data.task_corpus import (
    METRICS,
    SOURCES,
    Task,
    corpus_header,
    default_path,
    garbage_description,
    load_corpus,
    mismatched_description,
    tasks_in,
)

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def tasks() -> list[Task]:
    return load_corpus()


@pytest.fixture(scope="module")
def by_name(tasks) -> dict[str, Task]:
    return {t.name: t for t in tasks}


def test_shipped_file_is_small_gzip_json_and_packaged():
    path = default_path()
    assert path == ROOT / "lora_memory" / "data" / "task_corpus.json.gz"
    assert path.stat().st_size < 5_000_000
    assert path.read_bytes()[:2] == b"\x1f\x8b"  # gzip magic: plain JSON inside, never pickle
    json.loads(gzip.decompress(path.read_bytes()))
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "data/*" in package_data["lora_memory"]


def test_enough_tasks_of_both_sources_in_both_splits(tasks):
    train, heldout = tasks_in(tasks, "train"), tasks_in(tasks, "heldout")
    assert len(train) >= 100 and len(heldout) >= 15
    assert len(train) + len(heldout) == len(tasks)
    for split in (train, heldout):
        assert {t.source for t in split} == set(SOURCES)
        assert {t.metric for t in split} == set(METRICS)
    names = [t.name for t in tasks]
    assert len(set(names)) == len(names)


def test_heldout_tasks_are_recorded_and_never_in_train(tasks):
    header = corpus_header()
    heldout = {t.name for t in tasks if t.split == "heldout"}
    assert set(header["heldout"]) == heldout
    train_names = {t.name for t in tasks if t.split == "train"}
    assert not heldout & train_names
    for task in tasks:
        if task.split == "heldout":
            assert len(task.eval) >= 8  # enough to evaluate on
    counts = Counter((t.source, t.split) for t in tasks)
    assert header["counts"] == {s: {sp: counts[(s, sp)] for sp in ("train", "heldout")} for s in SOURCES}


def test_descriptions_many_distinct_disjoint_and_task_specific(tasks):
    owner: dict[str, str] = {}
    for task in tasks:
        train, evals = task.descriptions_train, task.descriptions_eval
        assert len(train) >= 20 and len(evals) >= 3, task.name
        assert len(set(train)) == len(train) and len(set(evals)) == len(evals), task.name
        assert not set(train) & set(evals), task.name
        for d in train + evals:
            assert d.strip() == d and len(d.split()) >= 4 and "{" not in d, (task.name, d)
            assert owner.setdefault(d, task.name) == task.name, f"{d!r} describes two tasks"


def test_examples_nonempty_and_train_eval_disjoint(tasks):
    for task in tasks:
        assert task.eval and task.train, task.name
        for ex in task.train + task.eval:
            assert ex.input.strip() and ex.target.strip() and ex.target == ex.target.strip(), (task.name, ex)
        assert not {e.input for e in task.train} & {e.input for e in task.eval}, task.name


def test_choice_tasks_have_candidates_containing_the_target(tasks):
    for task in tasks:
        for ex in task.train + task.eval:
            candidates = task.candidates(ex)
            if task.metric == "exact":
                assert candidates is None and not ex.options
                continue
            assert candidates and ex.target in candidates, (task.name, ex)
            if task.choices is None:  # per-example options, also shown in the input
                assert ex.input.endswith("Options: " + " | ".join(ex.options)), (task.name, ex)


def test_licences_and_sources_recorded(tasks):
    header = corpus_header()
    assert header["format"] == "lora-memory/task-corpus"
    sources = header["sources"]
    assert set(sources) == set(SOURCES)
    bb = sources["bigbench"]
    assert bb["license"] == "Apache-2.0" and "bigbench==" in bb["package"]
    assert bb["canary"] and all("canary GUID" in c for c in bb["canary"])
    for task in tasks:
        assert task.license and task.license == sources[task.source]["license"], task.name
        assert task.origin, task.name
        if task.source == "bigbench":
            assert task.origin.startswith("bigbench==") and task.origin.endswith("task.json")


def test_garbage_descriptions_are_word_salad_unlike_any_real_description(tasks):
    real = {d for t in tasks for d in t.descriptions_train + t.descriptions_eval}
    rng = random.Random(0)
    junk = [garbage_description(rng) for _ in range(300)]
    assert not set(junk) & real
    assert len(set(junk)) == len(junk)
    assert junk[:5] == [garbage_description(r) for r in [random.Random(0)] * 5]  # reproducible
    for text in junk[:50]:
        assert 8 <= len(text.split()) <= 20 and text.endswith(".")
        assert not {"yes", "no", "answer", "reply", "output", "word", "number", "list"} & set(text.lower().split())


def test_mismatched_description_comes_from_another_task(tasks, by_name):
    rng = random.Random(1)
    owner = {d: t.name for t in tasks for d in t.descriptions_train + t.descriptions_eval}
    for task in tasks[:: max(1, len(tasks) // 25)]:
        for which in ("eval", "train"):
            text = mismatched_description(task, tasks, rng, which)
            other = by_name[owner[text]]
            assert other.name != task.name
            assert text in (other.descriptions_eval if which == "eval" else other.descriptions_train)
            assert (other.metric, other.choices) != (task.metric, task.choices)


# Independent re-implementations of some procedural tasks: the shipped examples must agree.
VOWELS = set("aeiou")


def _pig_latin(w: str) -> str:
    if w[0] in VOWELS:
        return w + "way"
    i = next(i for i, c in enumerate(w) if c in VOWELS) if any(c in VOWELS for c in w) else len(w)
    return w[i:] + w[:i] + "ay"


def _numbers(text: str) -> list[int]:
    return [int(x) for x in re.findall(r"\d+", text)]


def _roman(n: int) -> str:
    table = [(100, "C"), (90, "XC"), (50, "L"), (40, "XL"), (10, "X"), (9, "IX"), (5, "V"), (4, "IV"), (1, "I")]
    out = ""
    for value, sym in table:
        out += sym * (n // value)
        n %= value
    return out


RECOMPUTE = {
    "reverse_word": lambda s: s[::-1],
    "uppercase_word": str.upper,
    "first_letter": lambda s: s[0],
    "last_letter": lambda s: s[-1],
    "word_length": lambda s: str(len(s)),
    "count_vowels": lambda s: str(sum(c in VOWELS for c in s)),
    "remove_vowels": lambda s: "".join(c for c in s if c not in VOWELS),
    "pig_latin": _pig_latin,
    "sort_letters": lambda s: "".join(sorted(s)),
    "count_words": lambda s: str(len(s.split())),
    "sort_words": lambda s: " ".join(sorted(s.split())),
    "reverse_word_order": lambda s: " ".join(s.split()[::-1]),
    "acronym": lambda s: "".join(w[0].upper() for w in s.split()),
    "add_two": lambda s: str(sum(_numbers(s))),
    "subtract_two": lambda s: str(_numbers(s)[0] - _numbers(s)[1]),
    "multiply_two": lambda s: str(_numbers(s)[0] * _numbers(s)[1]),
    "min_two": lambda s: str(min(_numbers(s))),
    "remainder": lambda s: str(_numbers(s)[0] % _numbers(s)[1]),
    "parity": lambda s: "odd" if int(s) % 2 else "even",
    "digit_sum": lambda s: str(sum(map(int, s))),
    "divisible_by_three": lambda s: "yes" if int(s) % 3 == 0 else "no",
    "roman_numeral": lambda s: _roman(int(s)),
    "sum_list": lambda s: str(sum(_numbers(s))),
    "sort_numbers": lambda s: ", ".join(map(str, sorted(_numbers(s)))),
    "is_sorted": lambda s: "yes" if _numbers(s) == sorted(_numbers(s)) else "no",
    "thousands_separators": lambda s: f"{int(s):,}",
    "email_domain": lambda s: s.split("@")[1],
    "email_user": lambda s: s.split("@")[0],
    "extract_number": lambda s: re.search(r"\d+", s).group(0),
    "extract_name": lambda s: re.search(r"\b[A-Z][a-z]+\b", s).group(0),
    "lookup_key": lambda s: dict(kv.split("=") for kv in s.split("\n")[0].split("; "))[s.split("key: ")[1]],
    "question_or_statement": lambda s: "question" if s.endswith("?") else "statement",
    "contains_digit": lambda s: "yes" if any(c.isdigit() for c in s) else "no",
    "time_24_to_12": lambda s: f"{int(s[:2]) % 12 or 12}:{s[3:]} {'AM' if int(s[:2]) < 12 else 'PM'}",
    "iso_to_us_date": lambda s: f"{s[5:7]}/{s[8:10]}/{s[:4]}",
}


@pytest.mark.parametrize("name", sorted(RECOMPUTE))
def test_procedural_examples_are_correct(by_name, name):
    task = by_name[f"procedural/{name}"]
    assert task.source == "procedural"
    for ex in task.train + task.eval:
        assert RECOMPUTE[name](ex.input) == ex.target, (name, ex)


def test_procedural_eval_words_come_from_the_heldout_vocabulary(by_name):
    """Evaluation inputs use made-up words that training inputs of the same task never use."""
    for name in ("reverse_word", "pig_latin", "first_letter", "uppercase_word"):
        task = by_name[f"procedural/{name}"]
        assert {word_split(e.input) for e in task.train} == {"train"}
        assert {word_split(e.input) for e in task.eval} == {"heldout"}


def test_label_tasks_are_roughly_balanced(tasks):
    for task in tasks:
        if task.metric == "choice" and task.choices and len(task.train) >= 32:
            counts = Counter(e.target for e in task.train)
            assert max(counts.values()) <= 0.75 * len(task.train), (task.name, counts)


# ---- the v2 corpus (issue 23): larger, user-phrased, families held out ---------------------------

V1_SHA256 = "fbe4577ebad40258ef913c1f2b4dc5d56fadd48bccf4c79594549c9113fed1c4"


@pytest.fixture(scope="module")
def v2() -> list[Task]:
    return load_corpus("v2")


@pytest.fixture(scope="module")
def v2_header() -> dict:
    return corpus_header("v2")


def test_v1_is_unchanged_and_still_the_default(tasks):
    """The shipped Text-to-LoRA checkpoint's figures were measured on v1's held-out split."""
    import hashlib

    assert hashlib.sha256(default_path().read_bytes()).hexdigest() == V1_SHA256
    assert load_corpus("v1") == tasks and all(t.family == "" for t in tasks)
    assert "family" not in json.loads(gzip.decompress(default_path().read_bytes()))["tasks"][0]


def test_v2_is_several_times_larger_and_still_small(tasks, v2):
    path = default_path("v2")
    assert path.name == "task_corpus_v2.json.gz" and path.stat().st_size < 3_000_000
    assert len(v2) >= 3 * len(tasks)
    assert all(t.family.startswith(t.source + "/") for t in v2)
    names = [t.name for t in v2]
    assert len(set(names)) == len(names)
    for split in (tasks_in(v2, "train"), tasks_in(v2, "heldout")):
        assert {t.source for t in split} == set(SOURCES) and {t.metric for t in split} == set(METRICS)


def test_v2_heldout_tasks_and_families_are_never_trained_on(tasks, v2, v2_header):
    heldout = {t.name for t in v2 if t.split == "heldout"}
    assert set(v2_header["heldout"]) == heldout and len(heldout) >= 50
    families = v2_header["heldout_families"]
    assert {f.split("/")[0] for f in families} == set(SOURCES)
    for family in families:
        members = [t for t in v2 if t.family == family]
        assert len(members) >= 2 and all(t.split == "heldout" for t in members), family
    trained_families = {t.family for t in v2 if t.split == "train"}
    assert not trained_families & set(families)
    assert {t.name for t in tasks if t.split == "heldout"} <= heldout  # v1's held-out tasks stay unseen
    partly = {t.family for t in v2 if t.split == "heldout"} - set(families)
    assert partly & trained_families  # held-out tasks inside trained families too
    counts = Counter((t.source, t.split) for t in v2)
    assert v2_header["counts"] == {s: {sp: counts[(s, sp)] for sp in ("train", "heldout")} for s in SOURCES}
    assert v2_header["families"] == dict(sorted(Counter(t.family for t in v2).items()))
    for task in v2:
        if task.split == "heldout":
            assert len(task.eval) >= 8, task.name


def test_v2_descriptions_are_32_plus_3_and_end_with_the_reply_format(v2, v2_header):
    hints = v2_header["format_hints"]
    by_tail: dict[str, list[str]] = {}
    for h in hints:
        by_tail.setdefault(h[-6:], []).append(h)
    for task in v2:
        train, evals = task.descriptions_train, task.descriptions_eval
        assert len(train) == 32 and len(evals) == 3, task.name
        assert len(set(train + evals)) == 35, task.name
        for d in train + evals:
            assert any(d.endswith(" " + h) for h in by_tail.get(d[-6:], ())), (task.name, d)
            assert not d.startswith(("Task:", "Instruction:")), d


def test_v2_has_formatting_only_tasks_trained_and_held_out(v2):
    fmt = [t for t in v2 if t.family == "procedural/formatting-only"]
    assert len(fmt) >= 10 and {t.split for t in fmt} == {"train", "heldout"}
    for t in fmt:
        if "json" in t.name:
            for ex in t.train + t.eval:
                json.loads(ex.target)
        if t.name.endswith("one_word_answer"):
            assert all(len(ex.target.split()) == 1 and ex.target in ex.input for ex in t.eval)


def test_v2_procedural_tasks_rebuild_identically():
    """The builder is deterministic: the procedural half (no download needed) rebuilds to the shipped tasks."""
    from scripts.build_task_corpus.build import held_out
    from scripts.build_task_corpus.descriptions import user_descriptions
    from scripts.build_task_corpus.formatting import FORMATTING
    from scripts.build_task_corpus.procedural import PROCEDURAL, procedural_record

    shipped = {t.name: t for t in load_corpus("v2") if t.source == "procedural"}
    specs = PROCEDURAL + FORMATTING
    assert len(specs) == len(shipped)
    for spec in specs[::7]:
        task = procedural_record(spec, user_descriptions, f"procedural/{spec.family}").task
        if shipped[task.name].split == "heldout":
            task = held_out(task)
        assert task == shipped[task.name]
