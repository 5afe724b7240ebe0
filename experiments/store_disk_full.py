"""Fill a store until its disk is full; check that the error is named and nothing committed is lost.

The measurement behind BENCHMARKS.md, "Reliability". Give it a directory on a small file system,
e.g. a 40 MB tmpfs (as root)::

    mkdir -p /tmp/full40 && mount -t tmpfs -o size=40m tmpfs /tmp/full40
    python -m experiments.store_disk_full /tmp/full40/store
    umount /tmp/full40

It adds documents (random adapters of ``--rank``) and replaces every third one until a write
fails, then reopens the store and checks every document whose write returned, bit for bit. Prints
one JSON object: writes that returned, the error raised (its class must be a ``LoraMemoryError``),
documents intact after reopening, and whether the store holds exactly the blobs its rows name.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import torch

from lora_memory.errors import LoraMemoryError
from lora_memory.store import ADAPTER_DIR, STORE_FILE, Store
from lora_memory.testing import make_tiny_backbone, random_adapter

SECTIONS = ("Reliability",)  # the BENCHMARKS.md sections this reproduces


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("directory")
    parser.add_argument("--rank", type=int, default=256)
    args = parser.parse_args(argv)
    backbone = make_tiny_backbone()
    store = Store(args.directory)
    expected: dict[str, int] = {}
    writes, error = 0, None
    try:
        while True:
            doc_id = f"doc{len(expected)}" if writes % 3 else f"doc{max(len(expected) - 1, 0)}"
            store.put(doc_id, doc_id, random_adapter(backbone, rank=args.rank, seed=writes),
                      identity=backbone.identity, tokens=1)
            expected[doc_id] = writes
            writes += 1
    except Exception as exc:  # the point: which error, and what survives it
        error = exc
    store.close()
    reopened = Store(args.directory)
    intact = sum(
        all(torch.equal(got.A[m], want.A[m]) and torch.equal(got.B[m], want.B[m]) for m in want.modules)
        for doc_id, seed in expected.items()
        for got, want in [(reopened.adapter(doc_id), random_adapter(backbone, rank=args.rank, seed=seed))]
    )
    reopened.close()
    with sqlite3.connect(Path(args.directory) / STORE_FILE) as conn:
        rows = sorted(name for (name,) in conn.execute("SELECT adapter_file FROM documents"))
    blobs = sorted(p.name for p in (Path(args.directory) / ADAPTER_DIR).iterdir())
    print(json.dumps({
        "writes_returned": writes, "documents": len(expected), "intact_after_reopen": intact,
        "error": type(error).__name__, "is_lora_memory_error": isinstance(error, LoraMemoryError),
        "message": str(error)[:200], "blobs_match_rows": blobs == rows,
    }, indent=1))


if __name__ == "__main__":
    main()
