"""Child side of tests/test_durability.py: adds documents to a store until it is SIGKILLed.

Run as ``python -m tests.durability_worker`` from the repository root. Importing torch and
transformers takes seconds, so this process imports once, builds the lively tiny backbone and a
seeded doc2lora exactly as the test does, prints ``{"ready": true}``, and then serves one job per
line of stdin by forking a worker. The worker opens a `ParametricMemory` at the job's path and adds
(or updates) documents one by one, printing ``{"added": id, "answer": ...}`` only after ``add``
has returned. A job may name a phase of one step's write at which the worker announces
``{"phase": ..., "id": ...}`` and sleeps, so the test can SIGKILL it exactly there:

* ``blob``: the adapter blob is on disk (fsynced), its row not yet written;
* ``row``: the row is written inside the open transaction, not yet committed;
* ``returned``: ``add`` has returned (committed), but the id is not yet printed.

The serving process prints ``{"exit": pid, "signal": n}`` when a worker dies. Every line is one
JSON object, flushed at once.
"""

from __future__ import annotations

import json
import os
import sys
import time

import torch

import lora_memory.store as store_module
from lora_memory import ParametricMemory, generate
from tests.conftest import lively_backbone, lively_doc2lora

MAX_NEW_TOKENS = 6


def build():
    """The backbone and doc2lora the test rebuilds in its own process: same seeds, same weights."""
    backbone = lively_backbone()
    return backbone, lively_doc2lora(backbone)


def say(**message) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _pause_at(phase: str, target: dict | None, current: list) -> None:
    if target and target["phase"] == phase and current and current[0] == target["step"]:
        say(phase=phase, step=current[0], id=current[1])
        time.sleep(600)  # the test kills us here


def work(job: dict, backbone, net) -> None:
    target = job.get("pause")  # {"step": index into docs, "phase": ...} or None
    current: list = []  # (step, id) being written, for the patched functions below

    save_adapter = store_module.save_adapter

    def save_adapter_then_pause(*args, **kwargs):
        sha = save_adapter(*args, **kwargs)
        _pause_at("blob", target, current)
        return sha

    write_row = store_module.Store._write_rows

    def write_row_then_pause(*args, **kwargs):
        write_row(*args, **kwargs)
        _pause_at("row", target, current)

    store_module.save_adapter = save_adapter_then_pause
    store_module.Store._write_rows = staticmethod(write_row_then_pause)

    memory = ParametricMemory(job["store"], backbone=backbone, doc2lora=net, max_new_tokens=MAX_NEW_TOKENS)
    for step, (doc_id, text, metadata, question, mode) in enumerate(job["docs"]):
        current[:] = [step, doc_id]
        if mode == "update":
            memory.update(doc_id, text, metadata=metadata)
        else:
            memory.add(text, id=doc_id, metadata=metadata)
        _pause_at("returned", target, current)
        answer = generate(backbone, [backbone.chat_prompt(question)], [memory.adapter(doc_id)], max_new_tokens=MAX_NEW_TOKENS)
        say(added=doc_id, answer=answer[0])
    say(done=True)
    time.sleep(600)  # stay alive: the test kills every worker itself


def main() -> None:
    torch.set_num_threads(int(os.environ.get("DURABILITY_THREADS", "1")))
    backbone, net = build()
    say(ready=True, pid=os.getpid())
    for line in sys.stdin:
        job = json.loads(line)
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:  # the worker
            try:
                say(worker=os.getpid())
                work(job, backbone, net)
            except BaseException as exc:
                say(error=repr(exc))
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        say(exit=pid, signal=os.WTERMSIG(status) if os.WIFSIGNALED(status) else None)


if __name__ == "__main__":
    main()
