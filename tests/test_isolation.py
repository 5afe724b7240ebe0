"""Issue 7: concurrent requests for different adapters never see each other's weights.

16 threads ask at once, each about its own document (or run its own task), for several rounds;
every answer must equal the one computed alone. The adapters are made to matter (a doc2lora with
nonzero ``b_scale``, a text2lora with nonzero head weights, on the lively tiny backbone), and the
tests check that the solo answers differ across documents / tasks, so cross-talk would show.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
import torch

from lora_memory import ParametricMemory, TaskAdapter, generate
from lora_memory.hypernets import fresh
from tests.test_memory import DOCS, NAMES, HashEncoder, question

THREADS = 16
ROUNDS = 5
MAX_NEW = 10  # long enough that the documents' answers mostly differ
TASKS = [
    "Answer with the sentiment of the review: positive or negative.",
    "Reply with the number only.",
    "Translate the input into French.",
    "Summarise the input in one word.",
    "Repeat the input backwards.",
    "Say whether the statement is true or false.",
    "Extract every person's name from the input.",
    "Answer in the style of a pirate.",
    "Give the input's language.",
    "Count the words of the input.",
    "Rewrite the input politely.",
    "Classify the topic: sport, politics or science.",
    "Write a haiku about the input.",
    "Reply with yes or no.",
    "List the verbs of the input.",
    "Correct the spelling of the input.",
]
TASK_INPUTS = ["The film was great.", "What is the magic number?"]


@pytest.fixture(scope="module")
def d2l(lively_net):
    return lively_net


@pytest.fixture(scope="module")
def t2l(lively):
    net = fresh("text2lora", lively, encoder="backbone")
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for head in net.heads.values():
            head.weight.normal_(std=0.05, generator=g)  # zero weights would give every task one adapter
    return net


def _memory(lively, d2l, path) -> ParametricMemory:
    return ParametricMemory(path, backbone=lively, doc2lora=d2l, encoder=HashEncoder(), max_new_tokens=MAX_NEW)


def _assert_distinguishable(answers: list) -> None:
    """Most pairs of threads must get different solo answers, else swapped adapters would not show."""
    n = len(answers)
    differing = sum(answers[i] != answers[j] for i in range(n) for j in range(i + 1, n))
    assert len(set(answers)) >= n // 2 and differing >= 0.8 * n * (n - 1) / 2, (
        f"solo answers too alike to detect cross-talk ({differing} differing pairs): {answers}"
    )


def _hammer(work: Callable[[int], list], expected: dict[int, list]) -> int:
    """Run ``work(i)`` in THREADS threads released together; returns how many answers were checked."""
    got: dict[int, list] = {}
    errors: list[BaseException] = []
    barrier = threading.Barrier(THREADS)

    def run(i: int) -> None:
        try:
            barrier.wait()
            got[i] = work(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    mismatches = {i: (got[i], expected[i]) for i in expected if got[i] != expected[i]}
    assert not mismatches, f"answers changed under concurrency: {mismatches}"
    return sum(len(v) for v in got.values())


def test_sixteen_threads_asking_about_different_documents(lively, d2l, tmp_path):
    names, docs = NAMES[:THREADS], DOCS[:THREADS]
    with _memory(lively, d2l, tmp_path / "solo") as memory:
        memory.add_documents(docs, ids=names, progress=False)
        solo = {i: memory.ask(question(n)) for i, n in enumerate(names)}
        # ask_batch: each thread asks its own question plus its neighbour's, in one batch
        pairs = {i: [question(names[i]), question(names[(i + 1) % THREADS])] for i in range(THREADS)}
        solo_batch = {i: memory.ask_batch(pairs[i]) for i in range(THREADS)}
        adapters = {n: memory.adapter(n) for n in names}

    # The test means something only if each question is routed to its own document and the
    # documents' adapters lead to different answers (and differ from the base model's).
    assert all(solo[i].document_ids == [n] for i, n in enumerate(names))
    answers = [solo[i].answer for i in range(THREADS)]
    base = generate(lively, [lively.chat_prompt(question(n)) for n in names], max_new_tokens=MAX_NEW)
    _assert_distinguishable(answers)
    assert sum(a != b for a, b in zip(answers, base, strict=True)) >= THREADS // 2  # the adapters matter
    for i, n in enumerate(names):  # solo answers are the routed adapter's answers
        expected = generate(lively, [lively.chat_prompt(question(n))], [adapters[n]], max_new_tokens=MAX_NEW)[0]
        assert solo[i].answer == expected
    # ask_batch alone agrees with ask alone
    assert all(solo_batch[i][0] == solo[i] for i in range(THREADS))

    checked = 0
    # A second memory with the same documents: the first round races on building the router,
    # embedding the documents and filling the adapter cache.
    with _memory(lively, d2l, tmp_path / "shared") as memory:
        memory.add_documents(docs, ids=names, progress=False)
        for _ in range(ROUNDS):
            checked += _hammer(lambda i: [memory.ask(question(names[i]))], {i: [solo[i]] for i in range(THREADS)})
            checked += _hammer(lambda i: memory.ask_batch(pairs[i]), solo_batch)
        # Threads asking through their own ParametricMemory objects over the same directory.
        views = [_memory(lively, d2l, tmp_path / "shared") for _ in range(THREADS)]
        try:
            for _ in range(ROUNDS):
                checked += _hammer(lambda i: [views[i].ask(question(names[i]))], {i: [solo[i]] for i in range(THREADS)})
        finally:
            for view in views:
                view.close()
    assert checked == THREADS * ROUNDS * (1 + 2 + 1)
    print(f"\nisolation/memory: {THREADS} threads x {checked // THREADS} queries = {checked} answers checked")


def test_sixteen_threads_running_different_tasks(lively, t2l):
    def tasks() -> list[TaskAdapter]:
        return [TaskAdapter(d, backbone=lively, text2lora=t2l, max_new_tokens=MAX_NEW) for d in TASKS]

    solo_tasks = tasks()
    solo = {i: [t.invoke(x) for x in TASK_INPUTS] for i, t in enumerate(solo_tasks)}
    solo_batch = {i: t.batch(TASK_INPUTS) for i, t in enumerate(solo_tasks)}
    assert solo_batch == solo

    # The adapters matter and differ by description, so cross-talk would change answers.
    _assert_distinguishable([tuple(solo[i]) for i in range(THREADS)])
    base = generate(lively, [lively.chat_prompt(x) for x in TASK_INPUTS], max_new_tokens=MAX_NEW)
    assert sum(tuple(v) != tuple(base) for v in solo.values()) >= THREADS // 2

    checked = 0
    for _ in range(ROUNDS):
        # Fresh objects each round: the threads also race on generating their adapters.
        racing = tasks()
        checked += _hammer(lambda i: [racing[i].invoke(x) for x in TASK_INPUTS], solo)
        checked += _hammer(lambda i: racing[i].batch(TASK_INPUTS), solo_batch)
        for i, t in enumerate(racing):
            a, b = t.adapter, solo_tasks[i].adapter
            assert all(torch.equal(a.A[m], b.A[m]) and torch.equal(a.B[m], b.B[m]) for m in a.modules)
    assert checked == THREADS * ROUNDS * 2 * len(TASK_INPUTS)
    print(f"\nisolation/tasks: {THREADS} threads x {checked // THREADS} queries = {checked} answers checked")
