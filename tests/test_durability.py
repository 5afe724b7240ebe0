"""Issue 7: a process SIGKILLed while adding documents leaves a store that opens and is whole.

A separate process (``tests/durability_worker.py``) builds the tiny backbone and a seeded
doc2lora the same way as this file, opens a `ParametricMemory` at a temporary path and adds
documents one by one, printing each id once ``add`` has returned. It is SIGKILLed in the middle of
an add: at the three dangerous points of a write (blob on disk without its row; row written but
not committed; committed but not yet reported) and at arbitrary moments. On reopening here:

* the store opens (and passes SQLite's integrity check);
* every document whose add returned is intact: text, metadata, and an adapter bit-identical to
  one recomputed from the same text with the same seeded network, which answers as before;
* no half-written entry is visible: the ids are exactly the returned ones, or those plus the one
  in flight when it is complete; no blob without a row, no temporary file.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import torch

from lora_memory import ParametricMemory, generate
from lora_memory.adapter import concat_adapters
from lora_memory.adapter_io import roundtrip
from lora_memory.store import ADAPTER_DIR, STORE_FILE
from tests.durability_worker import MAX_NEW_TOKENS, build
from tests.test_memory import DOCS, NAMES, HashEncoder, question

ROOT = Path(__file__).resolve().parent.parent
KILLS: list[str] = []  # one entry per SIGKILL, for the summary


class Worker:
    """The serving process, and the line protocol spoken with it."""

    def __init__(self) -> None:
        env = {**os.environ, "DURABILITY_THREADS": str(torch.get_num_threads()), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.durability_worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[dict] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.workers: list[int] = []

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put({"eof": True})

    def next(self, timeout: float = 60) -> dict:
        try:
            message = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("the durability worker went silent") from None
        assert "eof" not in message and "error" not in message, message
        return message

    def start(self, job: dict) -> int:
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        message = self.next()
        assert "worker" in message, message
        self.workers.append(message["worker"])
        return message["worker"]

    def kill_and_collect(self, pid: int) -> list[dict]:
        """SIGKILL the worker; return what it printed before dying, up to its exit report."""
        os.kill(pid, signal.SIGKILL)
        out = []
        while "exit" not in (message := self.next()):
            out.append(message)
        assert message == {"exit": pid, "signal": signal.SIGKILL}, message
        return out

    def close(self) -> None:
        for pid in self.workers:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait(timeout=30)


@pytest.fixture(scope="module")
def worker():
    w = Worker()  # starts importing while this process builds its own models
    try:
        yield w
    finally:
        w.close()


@pytest.fixture(scope="module")
def models(worker):
    backbone, net = build()
    message = worker.next(timeout=120)
    assert message.get("ready"), message
    return backbone, net


def _docs(n: int, offset: int = 0) -> list[list]:
    return [
        [NAMES[offset + i], DOCS[offset + i], {"n": offset + i, "tag": "durable"}, question(NAMES[offset + i]), "add"]
        for i in range(n)
    ]


def _expect(worker: Worker, until: dict) -> list[dict]:
    """Messages until one containing all of ``until``'s items (included)."""
    out = []
    while True:
        message = worker.next()
        out.append(message)
        if all(message.get(k) == v for k, v in until.items()):
            return out


def _check_store(path: Path, models, docs: list[list], returned: dict[str, str], may_extra: list[str]) -> list[str]:
    """Reopen ``path`` and check it against what the worker reported, bit for bit."""
    backbone, net = models
    by_id = {d[0]: d for d in docs}
    with sqlite3.connect(path / STORE_FILE) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    memory = ParametricMemory(path, backbone=backbone, doc2lora=net, encoder=HashEncoder(), max_new_tokens=MAX_NEW_TOKENS)
    with memory:
        ids = memory.ids()
        expected = list(returned)
        extra = ids[len(expected) :]
        assert ids[: len(expected)] == expected, f"documents whose add returned are missing: {ids} vs {expected}"
        assert len(extra) <= 1 and set(extra) <= set(may_extra), f"half-written or unexpected entries: {extra}"
        blobs = sorted(p.name for p in (path / ADAPTER_DIR).iterdir())
        segments = sum(len(memory.segments(i)) for i in ids)
        assert len(blobs) == segments and all(b.endswith(".safetensors") for b in blobs), blobs  # no debris
        for doc_id in ids:
            _, text, meta, q, _ = by_id[doc_id]
            doc = memory.get(doc_id)
            assert (doc.text, doc.metadata) == (text, meta)
            stored = memory.adapter(doc_id)
            again = concat_adapters([roundtrip(s.adapter, memory.precision) for s in memory._internalize(text)[1]])
            assert stored.layers == again.layers and stored.scale == again.scale
            assert dict(stored.metadata) == dict(again.metadata) and stored.base_model == again.base_model
            assert stored.modules == again.modules
            for m in again.modules:
                for x, y in ((stored.A[m], again.A[m]), (stored.B[m], again.B[m])):
                    assert x.dtype == y.dtype == torch.float32 and x.shape == y.shape
                    assert torch.equal(x.view(torch.int32), y.view(torch.int32)), f"{doc_id}: adapter bits differ"
            answer = generate(backbone, [backbone.chat_prompt(q)], [stored], max_new_tokens=MAX_NEW_TOKENS)[0]
            if doc_id in returned:
                assert answer == returned[doc_id], f"{doc_id} answers differently after the crash"
            if len(ids) > 1:
                routed = memory.ask(q)
                assert routed.document_ids == [doc_id] and routed.answer == answer
    return ids


@pytest.mark.parametrize(
    ("phase", "victim"),
    [("blob", 3), ("row", 2), ("returned", 1)],
    ids=["blob-written-row-missing", "row-written-not-committed", "committed-not-reported"],
)
def test_kill_at_each_point_of_a_write(worker, models, tmp_path, phase, victim):
    docs = _docs(5)
    pid = worker.start({"store": str(tmp_path), "docs": docs, "pause": {"step": victim, "phase": phase}})
    messages = _expect(worker, {"phase": phase})
    messages += worker.kill_and_collect(pid)
    KILLS.append(f"{phase}@doc{victim}")
    returned = {m["added"]: m["answer"] for m in messages if "added" in m}
    assert list(returned) == [d[0] for d in docs[:victim]]
    if phase == "blob":  # the orphan blob is there until the store is reopened
        assert len(list((tmp_path / ADAPTER_DIR).iterdir())) == victim + 1
    may_extra = [docs[victim][0]] if phase == "returned" else []
    ids = _check_store(tmp_path, models, docs, returned, may_extra)
    assert ids == [d[0] for d in docs[: victim + (phase == "returned")]]


@pytest.mark.parametrize("phase", ["blob", "row"])
def test_kill_during_an_update_keeps_the_old_version(worker, models, tmp_path, phase):
    docs = _docs(2)
    new_a = ["alpha", DOCS[5].replace("foxtrot", "alpha"), {"n": 99}, question("alpha"), "update"]
    pid = worker.start({"store": str(tmp_path), "docs": docs + [new_a], "pause": {"step": 2, "phase": phase}})
    messages = _expect(worker, {"phase": phase})
    messages += worker.kill_and_collect(pid)
    KILLS.append(f"update-{phase}")
    returned = {m["added"]: m["answer"] for m in messages if "added" in m}
    assert list(returned) == ["alpha", "bravo"]
    ids = _check_store(tmp_path, models, docs, returned, [])
    assert ids == ["alpha", "bravo"]


@pytest.mark.parametrize("delay", [0.0, 0.03, 0.06, 0.12])
def test_kill_at_arbitrary_moments(worker, models, tmp_path, delay):
    docs = _docs(16)  # far more than fit in the longest delay, so the kill lands mid-run
    pid = worker.start({"store": str(tmp_path), "docs": docs, "pause": None})
    messages = _expect(worker, {"added": docs[1][0]})
    time.sleep(delay)
    messages += worker.kill_and_collect(pid)
    returned = {m["added"]: m["answer"] for m in messages if "added" in m}
    assert "done" not in {k for m in messages for k in m}, "the worker finished before the kill: nothing tested"
    n = len(returned)
    assert list(returned) == [d[0] for d in docs[:n]]
    ids = _check_store(tmp_path, models, docs, returned, [docs[n][0]])
    assert ids in ([d[0] for d in docs[:n]], [d[0] for d in docs[: n + 1]])
    KILLS.append(f"timer+{delay}s: {n} returned, in-flight {'visible' if len(ids) > n else 'absent'}")


def test_zz_summary():
    if not KILLS:
        pytest.skip("no kill test ran in this session")
    print(f"\ndurability: {len(KILLS)} SIGKILLs: {KILLS}")
