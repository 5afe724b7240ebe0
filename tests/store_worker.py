"""Child side of tests/test_store_safety.py: rewrites documents of a store as fast as it can.

Run as ``python -m tests.store_worker DIRECTORY SECONDS ID[,ID...]`` from the repository root.
It opens its own `Store` on DIRECTORY, prints ``{"ready": true}``, waits for one line on stdin,
then for SECONDS replaces the listed documents in turn (``must_exist``: each replacement commits a
new blob and retires the old one, which is what a reader in another process can race), cycling
through the adapters of `ADAPTER_SEEDS` so the reader can check every adapter it gets bit for bit.
Finally it closes the store and prints ``{"updates": n}``.
"""

from __future__ import annotations

import json
import sys
import time

from lora_memory.store import Store
from lora_memory.testing import make_tiny_backbone, random_adapter

ADAPTER_SEEDS = tuple(range(6))


def adapters(backbone):
    """The adapters the worker writes, which the test rebuilds to compare against."""
    return [random_adapter(backbone, rank=2, seed=seed) for seed in ADAPTER_SEEDS]


def main() -> None:
    directory, seconds, ids = sys.argv[1], float(sys.argv[2]), sys.argv[3].split(",")
    backbone = make_tiny_backbone()
    written = adapters(backbone)
    store = Store(directory)
    print(json.dumps({"ready": True}), flush=True)
    sys.stdin.readline()
    n, end = 0, time.monotonic() + seconds
    while time.monotonic() < end:
        doc_id = ids[n % len(ids)]
        store.put(
            doc_id, f"{doc_id} v{n}", written[n % len(written)],
            identity=backbone.identity, tokens=1, must_exist=True,
        )
        n += 1
    store.close()
    print(json.dumps({"updates": n}), flush=True)


if __name__ == "__main__":
    main()
