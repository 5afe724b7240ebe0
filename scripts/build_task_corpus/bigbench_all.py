"""The v2 corpus's BIG-bench half: every JSON task of the sdist whose answer the backbone can
produce, not only the hand-described ones of `bigbench.BIGBENCH`.

A task is admitted when it is English, its licence is BIG-bench's own (not a repackaged
third-party dataset, see `EXCLUDED`), and `bigbench_record` finds at least ``MIN_EXAMPLES``
examples with a short answer: a fixed label set, per-example options or a short exact string.
Tasks described by hand in `bigbench` keep their descriptions; the others are described from
their own ``description`` field, which names the skill, in user-phrased frames.
"""

from __future__ import annotations

import json
import re
import tarfile
from dataclasses import dataclass
from pathlib import Path

from .bigbench import BB

# Top-level tasks left out, and why. Licences: a dataset re-published inside BIG-bench under its
# own terms stays under them, so (as the v1 corpus) only BIG-bench's own data is used.
EXCLUDED = {
    "natural_instructions": "repackages many third-party datasets",
    "social_iqa": "Social IQa (third-party licence)",
    "vitaminc_fact_verification": "VitaminC (CC BY-SA)",
    "fact_checker": "FEVER / PolitiFact data (third-party licences)",
    "intent_recognition": "SNIPS (third-party licence)",
    "mult_data_wrangling": "a third-party data-wrangling benchmark",
    "goal_step_wikihow": "wikiHow (CC BY-NC-SA)",
    "topical_chat": "Topical-Chat (third-party licence)",
    "movie_recommendation": "MovieLens (third-party licence)",
    "few_shot_nlg": "third-party dialogue data, long generations",
    "bridging_anaphora_resolution_barqa": "third-party corpus",
    "contextual_parametric_knowledge_conflicts": "third-party QA data",
    "bbq_lite_json": "social-bias probes built on stereotypes",
    "hhh_alignment": "alignment preference pairs, long answers",
    "suicide_risk": "sensitive content",
    "multiemo": "mostly non-English reviews, third-party licence",
    "cifar10_classification": "images encoded as text",
    "kanji_ascii": "ASCII-art images",
    "parsinlu_qa": "non-English",
    "parsinlu_reading_comprehension": "non-English",
    "gem": "long generations, third-party datasets",
}
_SHOT_BASELINE = re.compile(r"_shot_baseline$")  # list_functions' few-shot mixtures of its own tasks
# Tasks whose keywords contain one of these are left out: the backbone reads and writes English
# text. ("computer code" is not among them: list_functions carries it, and a code answer longer
# than `MAX_TARGET_CHARS` is dropped anyway.)
EXCLUDED_KEYWORDS = ("non-English", "multilingual", "translation", "low-resource language", "non-language",
                     "toxicity", "social bias", "racial bias", "gender bias", "religious bias")
_LANGUAGE_SUFFIX = re.compile(r"(_|^)(de|es|fr|it|ja|nl|pl|pt|ru|zh|hindi|hinglish|kannada|swahili|persian)(_|$)")
MAX_LABELS, MAX_OPTIONS, MAX_LABEL_CHARS = 8, 8, 40


@dataclass
class Candidate:
    """A task.json of the sdist: its path under ``benchmark_tasks`` and its contents."""

    path: str
    data: dict

    @property
    def family(self) -> str:
        """The top-level BIG-bench task: its subtasks are one family (held out together)."""
        return "bigbench/" + self.path.split("/")[0]


def read_all(source: Path) -> list[Candidate]:
    """Every task.json with examples in a bigbench sdist (.tar.gz) or its extracted directory, by path."""
    pattern = re.compile(r"^(?:[^/]+/)?bigbench/benchmark_tasks/(.+)/task\.json$")
    found: dict[str, dict] = {}
    if source.is_dir():
        for file in (source / "bigbench" / "benchmark_tasks").rglob("task.json"):
            rel = file.relative_to(source).as_posix()
            found[pattern.match(rel).group(1)] = json.loads(file.read_text(encoding="utf-8"))
    else:
        with tarfile.open(source, "r:gz") as tar:
            for member in tar:
                m = pattern.match(member.name)
                if m and member.isfile():
                    found[m.group(1)] = json.loads(tar.extractfile(member).read().decode("utf-8"))
    return [Candidate(p, d) for p, d in sorted(found.items()) if d.get("examples")]


def exclusion(c: Candidate) -> str | None:
    """Why ``c`` is left out of the corpus, or None when it may be used."""
    top = c.path.split("/")[0]
    if top in EXCLUDED:
        return EXCLUDED[top]
    if _SHOT_BASELINE.search(c.path):
        return "a few-shot baseline mixing other tasks"
    keywords = " ".join(c.data.get("keywords", []))
    if any(k in keywords for k in EXCLUDED_KEYWORDS):
        return "keywords: " + keywords
    if any(_LANGUAGE_SUFFIX.search(part) for part in c.path.split("/")):
        return "non-English subtask"
    return None


def _mode(examples: list[dict]) -> str | None:
    """"labels", "options" or "exact" as the examples allow, or None (no short answer)."""
    scored = [e for e in examples if e.get("target_scores")]
    if len(scored) * 2 >= len(examples):
        labels = {k.strip() for e in scored for k in e["target_scores"]}
        if len(labels) <= MAX_LABELS and all(len(k) <= MAX_LABEL_CHARS for k in labels):
            return "labels"
        if all(len(e["target_scores"]) <= MAX_OPTIONS for e in scored):
            return "options"
        return None
    return "exact" if any(e.get("target") for e in examples) else None


def _skill(description: str) -> str:
    """The task's own description as a clause: first sentence, no final period, lower-case start."""
    text = " ".join(description.split())
    first = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0].rstrip(".!? ")
    word = first.split()[0] if first.split() else ""
    return first if len(word) > 1 and word.isupper() else first[:1].lower() + first[1:]  # keep "LCS ..."


GIVEN = {
    "labels": ("an example to classify", "a short input"),
    "options": ("a question with answer options", "a problem and its candidate answers"),
    "exact": ("a short input", "a problem"),
}


def auto_spec(c: Candidate) -> BB | None:
    """A `BB` spec for ``c`` described from its own description, or None when it has no usable format.

    A list function's description names its rule ('The target function is "..."'): the actions
    are phrasings of that rule, as for the hand-described ones.
    """
    rule = re.search(r'target function is "(.*)"', c.data.get("description", ""))
    if c.path.startswith("list_functions/") and rule:
        f = rule.group(1)
        actions = (
            f'apply the list function "{f}" to the list', f'transform the list by the rule "{f}"',
            f'compute "{f}" for the list of numbers', f'map the list to "{f}"',
            f'work out "{f}" for the given list', f'turn the list into "{f}"',
        )
        return BB(c.path.replace("/", "_"), c.path, "exact", actions,
                  ("a list of numbers", "a list of natural numbers in square brackets"),
                  answer="the output list in square brackets")
    mode = _mode(c.data["examples"])
    skill = _skill(c.data.get("description", ""))
    if mode is None or len(skill) < 12:
        return None
    actions = (
        f"do the following task: {skill}", f"handle this: {skill}", f"work on this: {skill}",
        f"take on this task: {skill}", f"carry out this task: {skill}", f"help with this: {skill}",
    )
    name = c.path.replace("/", "_")
    return BB(name, c.path, mode, actions, GIVEN[mode], answer="the short answer" if mode == "exact" else None)
