"""Stress one store from several processes: writers rewrite documents while a reader reads and snapshots.

The measurement behind BENCHMARKS.md, "Reliability": before issue 22 a reader in another process
hit spurious "the store is damaged" errors (a blob retired between its SELECT and its file read)
and ``save()`` snapshots failed the same way. Here ``--writers`` processes each replace random
documents as fast as they can (tiny adapters: the store's own cost, not internalizing), while one
reader process loops over every document's adapter with the cache off (every read opens the blob)
and takes a snapshot every ``--snapshot-every`` seconds. Every adapter read is checked bit for bit
against the adapters the writers write; every snapshot is reopened and read whole.

    python -m experiments.store_stress --writers 3 --seconds 60

prints one JSON object: reads, updates (and per second), spurious read errors, adapters that are
no version anyone wrote, snapshots taken and failed, the most blob files on disk at once (retired
blobs wait there while a reader may still want them), and whether the store holds exactly the
blobs its rows name afterwards. Run it with another checkout on PYTHONPATH to measure that code.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

SEEDS = range(8)

SECTIONS = ("Reliability",)  # the BENCHMARKS.md sections this reproduces


def _adapters():
    from lora_memory.testing import make_tiny_backbone, random_adapter

    backbone = make_tiny_backbone()
    return backbone, [random_adapter(backbone, rank=2, seed=s) for s in SEEDS]


def _same(a, b) -> bool:
    import torch

    return all(torch.equal(a.A[m], b.A[m]) and torch.equal(a.B[m], b.B[m]) for m in a.modules)


def writer(directory: str, ids: list[str], start: float, seconds: float, seed: int, out) -> None:
    from lora_memory.store import Store

    backbone, adapters = _adapters()
    store, rng, n = Store(directory), random.Random(seed), 0
    while time.time() < start:
        time.sleep(0.01)
    while time.time() < start + seconds:
        doc_id = rng.choice(ids)
        store.put(doc_id, f"{doc_id} by {seed}", rng.choice(adapters), identity=backbone.identity, tokens=1,
                  must_exist=True)
        n += 1
    store.close()
    out.put({"updates": n})


def reader(directory: str, ids: list[str], start: float, seconds: float, every: float, out) -> None:
    from lora_memory.errors import StoreError
    from lora_memory.store import Store

    _, adapters = _adapters()
    store = Store(directory, cache_size=0)
    snaps = Path(tempfile.mkdtemp(prefix="store-stress-snaps-"))
    stats = {"max_blobs_on_disk": 0, "reads": 0, "read_errors": 0, "foreign_adapters": 0, "snapshots": 0, "snapshot_errors": 0, "errors": []}
    while time.time() < start:
        time.sleep(0.01)
    next_snapshot = start + every
    while time.time() < start + seconds:
        # retired blobs wait on disk while a reader may want them: how many at most
        stats["max_blobs_on_disk"] = max(stats["max_blobs_on_disk"], len(os.listdir(Path(directory) / "adapters")))
        for doc_id in ids:
            try:
                got = store.adapter(doc_id)
                stats["reads"] += 1
                stats["foreign_adapters"] += not any(_same(got, a) for a in adapters)
            except StoreError as exc:
                stats["read_errors"] += 1
                stats["errors"].append(str(exc)[:200])
        if time.time() >= next_snapshot:
            next_snapshot += every
            target = snaps / f"s{stats['snapshots'] + stats['snapshot_errors']}"
            try:
                store.snapshot(target)
                copy = Store(target)
                assert copy.ids() == ids and all(any(_same(copy.adapter(i), a) for a in adapters) for i in ids)
                copy.close()
                stats["snapshots"] += 1
            except StoreError as exc:
                stats["snapshot_errors"] += 1
                stats["errors"].append(str(exc)[:200])
            shutil.rmtree(target, ignore_errors=True)
    store.close()
    shutil.rmtree(snaps, ignore_errors=True)
    stats["errors"] = stats["errors"][:3]
    out.put(stats)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--writers", type=int, default=3)
    parser.add_argument("--docs", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--snapshot-every", type=float, default=2.0)
    args = parser.parse_args(argv)

    from lora_memory.store import ADAPTER_DIR, STORE_FILE, Store

    directory = Path(tempfile.mkdtemp(prefix="store-stress-"))
    ids = [f"doc{i:03d}" for i in range(args.docs)]
    backbone, adapters = _adapters()
    store = Store(directory)
    for i, doc_id in enumerate(ids):
        store.put(doc_id, doc_id, adapters[i % len(adapters)], identity=backbone.identity, tokens=1)
    store.close()

    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    start = time.time() + 15  # every process has imported torch by then
    procs = [
        ctx.Process(target=writer, args=(str(directory), ids, start, args.seconds, s, out)) for s in range(args.writers)
    ]
    procs.append(ctx.Process(target=reader, args=(str(directory), ids, start, args.seconds, args.snapshot_every, out)))
    for p in procs:
        p.start()
    results = [out.get(timeout=args.seconds + 300) for _ in procs]
    for p in procs:
        p.join()
    Store(directory).close()  # deletions deferred for readers happen now
    with sqlite3.connect(directory / STORE_FILE) as conn:
        rows = sorted(name for (name,) in conn.execute("SELECT adapter_file FROM documents"))
    blobs = sorted(p.name for p in (directory / ADAPTER_DIR).iterdir())
    updates = sum(r.get("updates", 0) for r in results)
    summary = {k: v for r in results if "reads" in r for k, v in r.items()}
    summary |= {"writers": args.writers, "documents": len(ids), "seconds": args.seconds, "updates": updates,
                "updates_per_s": round(updates / args.seconds, 1), "blobs_match_rows": blobs == rows,
                "documents_after": len(rows)}
    shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
