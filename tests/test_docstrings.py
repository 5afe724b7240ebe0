"""Standard-library docstrings as training text: reading them without importing, code-shaped blanks."""

import random
import textwrap

import pytest

from lora_memory.data import docstrings
from lora_memory.data.docstrings import Docstring, code_spans, docstring_sample, module_split, read_docstrings

count = lambda s: len(s.split())  # noqa: E731
LONG = ("Run the command with ``--timeout=30`` and raise TimeoutExpired when the child outlives it; "
        "os.path.join() builds the log path under LOG_DIR and max_size caps each file in bytes.")


def _write(root, relative, source):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


def test_docstrings_are_read_as_prose_without_doctests_code_or_test_packages(tmp_path):
    _write(tmp_path, "shell/runner.py", f'''
        """{LONG}

        >>> run("ls")
        0

            indented_code(block)
        """
        import sys
        sys.exit("importing this file would exit")

        def short():
            """Return the size."""

        class Runner:
            """{LONG} It keeps running."""
    ''')
    _write(tmp_path, "test/test_runner.py", f'"""{LONG}"""\n')
    found = read_docstrings(tmp_path)
    assert [d.name for d in found] == ["shell.runner:", "shell.runner:Runner"]
    assert all(d.module == "shell" for d in found)
    assert found[0].text == " ".join(LONG.split())  # the doctest and the indented code are dropped
    assert "\n" not in found[1].text


def test_code_shaped_spans_come_first_and_abbreviations_are_not_code():
    sentence = "Use --verbose, e.g. set max_size or call os.path.join() in 1998 as Guido said."
    spans = [sentence[a:b] for a, b in code_spans(random.Random(0), sentence)]
    code = {"--verbose", "max_size", "os.path.join()"}
    assert set(spans[:3]) == code
    assert "e.g" not in spans and "1998" in spans[3:]


def test_samples_ask_about_spans_that_occur_once_in_one_modules_docstrings():
    text = "Function f{i} reads CONFIG_{i} from the file settings_{i}.toml. "
    pool = tuple(Docstring(f"m{i % 2}:f{i}", f"m{i % 2}", text.format(i=i) + LONG.replace("30", str(i)))
                 for i in range(12))
    rng = random.Random(3)
    for _ in range(20):
        sample = docstring_sample(rng, "train", 60, count, docstrings=pool)
        assert sample.kind == docstrings.KIND and 1 <= len(sample.qas) <= 4
        modules = {d.module for d in pool if d.text in sample.document}
        assert len(modules) == 1
        for qa in sample.qas:
            assert sample.document.count(qa.answer) == 1 and "___" in qa.question
            assert qa.lead in sample.document  # the words the reply is taught to say first


def test_a_long_docstring_is_cut_at_about_the_token_target():
    long = " ".join(f"Sentence {i} sets OPTION_{i} through set_option_{i}()." for i in range(300))
    sample = docstring_sample(random.Random(1), "train", 50, count, docstrings=(Docstring("m:", "m", long),))
    assert 40 <= count(sample.document) <= 60 and sample.document.endswith(".")


def test_modules_split_stably_and_a_bad_split_is_named():
    names = [f"module{i}" for i in range(200)]
    splits = [module_split(n) for n in names]
    assert splits == [module_split(n) for n in names] and {"train", "heldout"} == set(splits)
    with pytest.raises(ValueError, match="split"):
        docstrings.stdlib_docstrings("validation")


def test_training_draws_docstring_documents_at_their_weight(backbone, tmp_path, monkeypatch):
    from lora_memory.training.doc2lora import Doc2LoRATrainConfig, _stream

    pool = tuple(Docstring(f"m:f{i}", "m", f"Call f{i}() with --flag-{i} to read LEVEL_{i}. " + LONG) for i in range(8))
    monkeypatch.setattr(docstrings, "stdlib_docstrings", lambda split: pool)
    config = Doc2LoRATrainConfig(run_dir=str(tmp_path), docstring_weight=1.0, needle_weight=1.0, facts_weight=0.0,
                                 doc_tokens_min=32, doc_tokens_max=64)
    kinds = [s.kind for s, _ in zip(_stream(backbone, config, 0, "train"), range(40))]
    assert 10 < kinds.count(docstrings.KIND) < 30 and set(kinds) == {docstrings.KIND, "needle"}
