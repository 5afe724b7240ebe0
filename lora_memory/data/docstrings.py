"""Technical prose with code-shaped answers: the docstrings of Python's own standard library.

The real documents users store (READMEs, changelogs, man pages) ask for flags, identifiers, file
names and versions, and Wikipedia prose has almost none of them; the swapped spans of
`data.swapped_spans` put made-up ones into Wikipedia. Docstrings are real text of another kind
(API reference written inside code) where such spans occur naturally ("Use ``shell=True`` ...",
"raises ``TimeoutExpired``", "the ``-m`` switch"). They are read from the interpreter's own
``.py`` sources with `ast` (nothing is imported), split into train and held-out by a hash of the
module's name before anything else, and turned into cloze questions whose blanks are the
code-shaped spans first. The judge's kinds (READMEs, NEWS files, man pages, package
descriptions; `data.real_documents`) are not docstrings, so they stay unseen.
"""

from __future__ import annotations

import ast
import functools
import random
import re
import sysconfig
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lora_memory.data.realtext import HELDOUT_EVERY, cloze_question, prose_spans, split_sentences
from lora_memory.data.synthetic import DocSample

KIND = "docstring"
MIN_WORDS = 25  # shorter docstrings ("Return the size.") carry nothing to ask about
_SKIPPED_DIRS = {"test", "tests", "idlelib", "lib2to3", "turtledemo", "site-packages", "__pycache__"}
_CODE = re.compile(
    r"(?<![\w-])--?[A-Za-z][\w-]*(?:=\w+)?"  # flags and options: -m, --user, --prefix=dir
    r"|\b[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+(?:\(\))?"  # dotted names: os.path.join, sys.argv
    r"|\b[A-Za-z_]\w*\(\)"  # calls: close()
    r"|\b[A-Z][A-Z0-9]*_[A-Z0-9_]+\b"  # constants: O_NONBLOCK
    r"|\b[a-z][a-z0-9]*_[a-z0-9_]+\b"  # snake_case names: max_size
    r"|\b[A-Z][a-z0-9]+(?:[A-Z][a-z0-9]*)+\b"  # CamelCase classes: TimeoutExpired
)

_ABBREVIATION = re.compile(r"(?:\w\.)+\w?")


@dataclass(frozen=True)
class Docstring:
    """One docstring: where it is (``module:qualname``) and its text, whitespace normalised."""

    name: str
    module: str
    text: str


def module_split(module: str) -> str:
    """``heldout`` for one module in `HELDOUT_EVERY` (a hash stable across runs), else ``train``."""
    return "heldout" if zlib.crc32(module.encode()) % HELDOUT_EVERY == 0 else "train"


def _prose(docstring: str) -> str:
    """The docstring's prose paragraphs on one line each, doctest and indented code dropped."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", docstring.strip()):
        lines = block.splitlines()
        if any(line.lstrip().startswith(">>>") for line in lines) or (lines and lines[0].startswith(("    ", "\t"))):
            continue
        paragraphs.append(" ".join(block.split()))
    return "\n\n".join(p for p in paragraphs if p)


def read_docstrings(root: Path) -> list[Docstring]:
    """Every module, class and function docstring of at least `MIN_WORDS` words under ``root``."""
    found = []
    for path in sorted(root.rglob("*.py")):
        if _SKIPPED_DIRS & set(path.relative_to(root).parts[:-1]):
            continue
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        nodes = [("", tree)] + [(n.name, n) for n in ast.walk(tree)
                                if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        for name, node in nodes:
            text = _prose(ast.get_docstring(node) or "")
            if len(text.split()) >= MIN_WORDS:
                found.append(Docstring(f"{module}:{name}", module.split(".")[0], text))
    return found


@functools.cache
def stdlib_docstrings(split: str) -> tuple[Docstring, ...]:
    """The interpreter's standard-library docstrings of ``split`` (by top-level module)."""
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    every = read_docstrings(Path(sysconfig.get_paths()["stdlib"]))
    return tuple(d for d in every if module_split(d.module) == split)


def code_spans(rng: random.Random, sentence: str) -> list[tuple[int, int]]:
    """Candidate blanks: code-shaped spans (shuffled) before `realtext.prose_spans`."""
    spans = [m.span() for m in _CODE.finditer(sentence)]
    # abbreviations (e.g, i.e) are dotted too; a code name has a part of two characters or more
    spans = [(a, b) for a, b in spans if 2 <= b - a <= 40 and not _ABBREVIATION.fullmatch(sentence[a:b])]
    return rng.sample(spans, len(spans)) + prose_spans(rng, sentence)


def docstring_sample(
    rng: random.Random, split: str, tokens: int, count_tokens: Callable[[str], int], questions: int = 4,
    docstrings: tuple[Docstring, ...] | None = None,
) -> DocSample:
    """Docstrings of one module run together to about ``tokens`` tokens (whole sentences), with
    up to ``questions`` cloze questions on code-shaped spans, each answer occurring exactly once
    in the document."""
    pool = docstrings if docstrings is not None else stdlib_docstrings(split)
    by_module: dict[str, list[Docstring]] = {}
    for d in pool:
        by_module.setdefault(d.module, []).append(d)
    modules = sorted(by_module)
    if not modules:
        raise ValueError(f"no docstrings in the {split} split")
    while True:
        # sentence by sentence, so one long module docstring is cut at about ``tokens`` too
        parts: list[list[str]] = []
        total = 0
        entries = by_module[rng.choice(modules)]
        for d in rng.sample(entries, min(len(entries), 64)):
            parts.append([])
            for sentence in split_sentences(d.text.replace("\n\n", " ")):
                parts[-1].append(sentence)
                total += count_tokens(sentence) + 1
                if total >= tokens:
                    break
            if total >= tokens:
                break
        document = "\n\n".join(" ".join(part) for part in parts)
        sentences = [s for part in parts for s in part]
        qas, seen = [], set()
        for sentence in rng.sample(sentences, min(len(sentences), 4 * questions)):
            qa = cloze_question(rng, split, sentence, spans=code_spans)
            if qa and document.count(qa.answer) == 1 and qa.answer not in seen and len(qas) < questions:
                qas.append(qa)
                seen.add(qa.answer)
        if qas:
            return DocSample(document, tuple(qas), KIND)
