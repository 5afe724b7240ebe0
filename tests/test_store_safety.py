"""Issue 22: the store never touches what it does not own; hostile inputs are bounded.

One section per defect the issue found, each test failing on the code before the fix:

1. opening a directory never deletes files the store did not write (foreign LoRA files, a
   symlinked ``adapters/``, the blobs of a store whose database is missing or empty);
2. a blob name read from the database is never followed outside ``adapters/``;
3. readers in another process (or another `Store` on the same path) see the old or the new
   version, never a spurious "damaged" error, and ``save()`` snapshots while another process writes;
4. a question too long for the window is refused before routing runs the backbone;
5. PEFT folders and checkpoints are validated before any allocation; FIFOs are never read;
6. read-only stores open for reading; a busy store waits ``busy_timeout`` and names the cause;
7. the CLI refuses to overwrite and turns every user error into ``error: ...`` with exit 2;
8. the remaining errors are `LoraMemoryError`s (ids and texts with lone surrogates, deep metadata,
   hand-edited rows), a PEFT config naming another base model is refused, ids are NFC.

Plus the migration of a version-1 store, built here by hand exactly as the previous version wrote it.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import threading
import time
import unicodedata
import uuid
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from lora_memory import (
    AdapterFormatError,
    BaseModelMismatchError,
    CheckpointError,
    DocumentError,
    InvalidIdError,
    LoraMemoryError,
    ParametricMemory,
    PromptTooLongError,
    QuestionError,
    StoreError,
    export_peft,
    import_peft,
    load_checkpoint,
    save_adapter,
    save_checkpoint,
)
from lora_memory.cli import main as cli_main
from lora_memory.errors import ReadOnlyStoreError, StoreBusyError
from lora_memory.hypernets import fresh
from lora_memory.router import QuestionLikelihood, Router
from lora_memory.store import ADAPTER_DIR, STORE_FILE, Store
from tests.conftest import random_adapter
from tests.store_worker import adapters as worker_adapters
from tests.test_memory import DOCS, NAMES, HashEncoder, question

ROOT = Path(__file__).resolve().parent.parent


# ---- helpers ---------------------------------------------------------------------------------
def _put(store: Store, backbone, doc_id: str, seed: int = 0, **kw):
    adapter = random_adapter(backbone, rank=2, seed=seed)
    store.put(doc_id, f"text {seed}", adapter, identity=backbone.identity, tokens=1, **kw)
    return adapter


def _same(a, b) -> bool:
    return a.modules == b.modules and all(
        torch.equal(a.A[m], b.A[m]) and torch.equal(a.B[m], b.B[m]) for m in a.modules
    )


def _tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (links not followed) with its bytes: what "untouched" compares."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() and not p.is_symlink() else b"<link or dir>"
        for p in sorted(root.rglob("*"))
    }


def _blobs(directory: Path) -> list[str]:
    return sorted(p.name for p in (directory / ADAPTER_DIR).iterdir())


def _rows(directory: Path) -> list[str]:
    conn = sqlite3.connect(directory / STORE_FILE)
    try:
        return sorted(name for (name,) in conn.execute("SELECT adapter_file FROM segments"))
    finally:
        conn.close()


def _edit(directory: Path, sql: str, params=()) -> None:
    conn = sqlite3.connect(directory / STORE_FILE)
    conn.execute(sql, params)
    conn.commit()
    conn.close()


# ---- 1. opening never deletes what the store did not write ------------------------------------
def _user_lora_folder(directory: Path, backbone) -> dict[str, bytes]:
    """A project folder whose adapters/ holds the user's own LoRA files (and a stray temp file)."""
    (directory / ADAPTER_DIR).mkdir(parents=True)
    save_adapter(directory / ADAPTER_DIR / "my-lora.safetensors", random_adapter(backbone, seed=1))
    save_adapter(directory / ADAPTER_DIR / f"{uuid.uuid4().hex}.lora.safetensors", random_adapter(backbone, seed=2))
    (directory / ADAPTER_DIR / "upload.tmp").write_bytes(b"half-uploaded")
    return _tree(directory)


def test_a_folder_holding_the_users_lora_files_is_refused_and_left_alone(tmp_path, backbone):
    project = tmp_path / "my-project"
    before = _user_lora_folder(project, backbone)
    with pytest.raises(StoreError, match=r"not empty and holds no lora-memory store.*allow_foreign_files=True"):
        ParametricMemory(project)
    assert _tree(project) == before

    # asked to, the store is created beside them, and reopening (which cleans up) leaves them alone
    with ParametricMemory(project, allow_foreign_files=True):
        pass
    store = Store(project)
    _put(store, backbone, "d")
    _put(store, backbone, "d", seed=3)  # a replacement: the clean-up after it runs too
    store.close()
    Store(project).close()
    after = _tree(project)
    assert {k: v for k, v in after.items() if k in before} == before
    assert "my-lora.safetensors" in "".join(after)


def test_foreign_files_beside_the_store_block_creation_unless_allowed(tmp_path):
    (tmp_path / "notes.md").write_text("mine")
    with pytest.raises(StoreError, match=r"notes\.md.*allow_foreign_files"):
        Store(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.md"]  # not even memory.sqlite was created
    Store(tmp_path, allow_foreign_files=True).close()
    assert (tmp_path / "notes.md").read_text() == "mine"


def test_a_symlinked_adapters_folder_is_refused_and_its_target_kept(tmp_path, backbone):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    save_adapter(elsewhere / f"{uuid.uuid4().hex}.safetensors", random_adapter(backbone))  # looks like a v1 blob
    (elsewhere / "mine.safetensors").write_bytes(b"precious")
    before = _tree(elsewhere)
    for existing in (False, True):
        store_dir = tmp_path / f"store-{existing}"
        store_dir.mkdir()
        if existing:  # an existing store whose adapters/ was swapped for a link
            Store(store_dir).close()
            (store_dir / ADAPTER_DIR).rmdir()
        (store_dir / ADAPTER_DIR).symlink_to(elsewhere, target_is_directory=True)
        with pytest.raises(StoreError, match="symbolic link"):
            Store(store_dir)
        assert _tree(elsewhere) == before


@pytest.mark.parametrize("damage", ["missing", "zero-bytes"])
def test_a_store_that_lost_its_database_is_refused_and_its_blobs_kept(tmp_path, backbone, damage):
    store = Store(tmp_path)
    for i in range(3):
        _put(store, backbone, f"d{i}", seed=i)
    store.close()
    if damage == "missing":
        (tmp_path / STORE_FILE).unlink()
    else:
        (tmp_path / STORE_FILE).write_bytes(b"")
    before = _tree(tmp_path)
    for kw in ({}, {"allow_foreign_files": True}):  # not even when foreign files are allowed
        with pytest.raises(StoreError, match=r"3 adapter blob.*lost or moved.*Restore memory\.sqlite"):
            Store(tmp_path, **kw)
        with pytest.raises(StoreError, match="lost or moved"):
            ParametricMemory(tmp_path, **kw)
    assert _tree(tmp_path) == before


def test_an_unreadable_database_is_never_cleaned_up(tmp_path, backbone):
    store = Store(tmp_path)
    _put(store, backbone, "d")
    store.close()
    (tmp_path / STORE_FILE).write_bytes(b"not sqlite at all" * 100)
    save_adapter(tmp_path / ADAPTER_DIR / f"lm-{'0' * 32}.safetensors", random_adapter(backbone))
    before = _tree(tmp_path)
    with pytest.raises(StoreError, match="not a lora-memory store"):
        Store(tmp_path)
    assert _tree(tmp_path) == before


def test_a_full_disk_is_a_store_error_and_changes_nothing(tmp_path, backbone, monkeypatch):
    import errno

    store = Store(tmp_path)
    kept = _put(store, backbone, "d")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("lora_memory.store.save_adapter", full)
    for doc_id in ("d", "e"):
        with pytest.raises(StoreError, match="No space left on device.*unchanged"):
            _put(store, backbone, doc_id, seed=1)
    assert store.ids() == ["d"] and _same(store.adapter("d"), kept) and _blobs(tmp_path) == _rows(tmp_path)


# ---- 2. blob names read from the database are never followed -----------------------------------
HOSTILE = ["absolute", "dotdot", "nested", "symlink"]


def _hostile_store(tmp_path: Path, backbone, how: str) -> tuple[Path, Path, bytes]:
    """A store (as received from someone) whose row for "a" names a file outside it."""
    victim = tmp_path / "victim.txt"
    victim.write_bytes(b"the user's file, outside the store")
    directory = tmp_path / "received"
    store = Store(directory)
    _put(store, backbone, "a")
    _put(store, backbone, "b", seed=1)
    store.close()
    name = {
        "absolute": str(victim),
        "dotdot": "../../victim.txt",
        "nested": f"../{ADAPTER_DIR}/../../victim.txt",
        "symlink": f"lm-{'e' * 32}.safetensors",  # a valid name, but a link pointing out
    }[how]
    if how == "symlink":
        (directory / ADAPTER_DIR / name).symlink_to(victim)
    _edit(directory, "UPDATE segments SET adapter_file = ? WHERE document_id = 'a'", (name,))
    return directory, victim, victim.read_bytes()


@pytest.mark.parametrize("how", HOSTILE)
def test_reading_or_saving_a_hostile_row_is_refused_and_follows_nothing(tmp_path, backbone, how):
    directory, victim, content = _hostile_store(tmp_path, backbone, how)
    store = Store(directory)
    with pytest.raises(StoreError, match="not a blob name this store writes|symbolic link"):
        store.adapter("a")
    store.adapter("b")  # the other rows are fine
    with pytest.raises(StoreError, match="not a blob name this store writes|symbolic link"):
        store.snapshot(tmp_path / "copy")
    assert not (tmp_path / "copy").exists()
    assert victim.read_bytes() == content  # never truncated, never read into the copy
    store.close()
    assert victim.read_bytes() == content


@pytest.mark.parametrize("how", HOSTILE)
@pytest.mark.parametrize("action", ["update", "delete"])
def test_replacing_or_deleting_a_hostile_row_never_deletes_outside_the_store(tmp_path, backbone, how, action, caplog):
    directory, victim, content = _hostile_store(tmp_path, backbone, how)
    store = Store(directory)
    with caplog.at_level(logging.WARNING, logger="lora_memory.store"):
        if action == "update":
            new = _put(store, backbone, "a", seed=5, must_exist=True)
            assert _same(store.adapter("a"), new)
        else:
            store.delete("a")
            assert store.ids() == ["b"]
        store.close()
        Store(directory).close()  # and the clean-up on open follows nothing either
    assert victim.exists() and not victim.is_symlink() and victim.read_bytes() == content
    if how != "symlink":  # the bad name was reported, not followed
        assert "not a blob name" in caplog.text


# ---- 3. concurrent readers never see a spurious damage error -----------------------------------
def test_another_store_object_replacing_a_document_mid_read_is_not_damage(tmp_path, backbone):
    """The race of issue 22 made deterministic: a second `Store` (a second ParametricMemory on the
    same path, or another process) commits an update and retires the old blob between the reader's
    SELECT and its file read."""
    reader, writer = Store(tmp_path, cache_size=0), Store(tmp_path)
    old = {i: _put(writer, backbone, f"d{i}", seed=i) for i in range(3)}
    new = {}
    query = reader._query

    def query_then_race(sql, params=()):
        rows = query(sql, params)
        if "adapter_sha256" in sql and params and params[0] not in new:  # between the row and the blob
            new[params[0]] = _put(writer, backbone, params[0], seed=10 + len(new), must_exist=True)
        return rows

    reader._query = query_then_race
    for i in range(3):
        got = reader.adapter(f"d{i}")
        assert _same(got, old[i]) or _same(got, new[f"d{i}"])
    assert len(new) == 3

    # save() while the other object replaces every document during the copy
    copy_blob = reader._copy_blob
    raced = []

    def copy_then_race(*args, **kwargs):
        if not raced:
            raced.extend(_put(writer, backbone, f"d{i}", seed=20 + i, must_exist=True) for i in range(3))
        return copy_blob(*args, **kwargs)

    reader._copy_blob = copy_then_race
    reader._query = query
    snap = reader.snapshot(tmp_path.parent / f"{tmp_path.name}-snap")
    copy = Store(snap)
    assert all(_same(copy.adapter(f"d{i}"), new[f"d{i}"]) for i in range(3))  # the version when it began
    copy.close()
    reader.close()
    writer.close()  # the deferred deletions happen once no reader holds the blobs
    assert _blobs(tmp_path) == _rows(tmp_path)
    assert all(_same(Store(tmp_path).adapter(f"d{i}"), raced[i]) for i in range(3))


def test_readers_and_snapshots_in_one_process_while_another_process_rewrites(tmp_path, backbone):
    ids = [f"doc{i}" for i in range(12)]
    store = Store(tmp_path)
    for i, doc_id in enumerate(ids):
        _put(store, backbone, doc_id, seed=i)
    store.close()
    known = worker_adapters(backbone) + [random_adapter(backbone, rank=2, seed=i) for i in range(len(ids))]
    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.store_worker", str(tmp_path), "4", ",".join(ids)],
        cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        assert json.loads(worker.stdout.readline()) == {"ready": True}
        reader = Store(tmp_path, cache_size=0)  # every read goes to the blob on disk
        worker.stdin.write("go\n")
        worker.stdin.flush()
        reads, snapshots, errors = 0, 0, []
        while worker.poll() is None:
            try:
                for doc_id in ids:
                    got = reader.adapter(doc_id)
                    assert any(_same(got, k) for k in known), f"{doc_id}: an adapter nobody wrote"
                    reads += 1
                snap = reader.snapshot(tmp_path.parent / f"{tmp_path.name}-snap{snapshots}")
                snapshots += 1
                with sqlite3.connect(snap / STORE_FILE) as conn:
                    assert conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0] == len(ids)
            except StoreError as exc:
                errors.append(repr(exc))
        updates = json.loads(worker.stdout.readline())["updates"]
    finally:
        worker.kill()
        worker.wait()
    reader.close()
    print(f"\nconcurrency: {reads} reads and {snapshots} snapshots while another process made {updates} updates")
    assert not errors, f"{len(errors)} spurious errors, first: {errors[0]}"
    assert updates >= 20 and reads >= 100 and snapshots >= 3, (updates, reads, snapshots)
    for i in range(snapshots):  # every snapshot is a whole store
        copy = Store(tmp_path.parent / f"{tmp_path.name}-snap{i}")
        assert copy.ids() == ids and all(any(_same(copy.adapter(d), k) for k in known) for d in ids)
        copy.close()
    Store(tmp_path).close()  # deferred deletions done: exactly the referenced blobs remain
    assert _blobs(tmp_path) == _rows(tmp_path)


# ---- 4. a long question is refused before routing ----------------------------------------------
def test_a_question_longer_than_the_window_is_refused_before_routing(lively, lively_net, monkeypatch):
    with ParametricMemory(backbone=lively, doc2lora=lively_net, encoder=HashEncoder(), max_new_tokens=4) as memory:
        memory.add_documents(DOCS[:2], ids=NAMES[:2], progress=False)
        calls = []
        for cls, name in ((QuestionLikelihood, "__call__"), (Router, "embed")):
            original = getattr(cls, name)
            def spy(self, *a, _original=original, _name=name, **k):
                calls.append(_name)
                return _original(self, *a, **k)

            monkeypatch.setattr(cls, name, spy)
        memory.ask("Which code?")
        assert calls  # the spies see routing when it happens
        calls.clear()
        long = "word " * 9000
        for call in (lambda: memory.ask(long), lambda: memory.stream(long), lambda: memory.route(long),
                     lambda: memory.ask_batch(["Which code?", long]), lambda: memory.retrieve(long)):
            start = time.perf_counter()
            with pytest.raises(PromptTooLongError, match="window"):
                call()
            assert time.perf_counter() - start < 5
        assert calls == [], f"routing ran before the length check: {calls}"


# ---- 5. importers validate before they allocate; FIFOs are never read --------------------------
@pytest.fixture
def peft_dir(tmp_path, backbone):
    return export_peft(random_adapter(backbone, modules=("q_proj", "down_proj"), rank=2), backbone, tmp_path / "peft")


def _set_config(folder: Path, **changes) -> None:
    path = folder / "adapter_config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


@pytest.mark.parametrize("r", [4000, 10**6, 10**12])
def test_a_huge_rank_in_a_small_peft_folder_allocates_nothing(peft_dir, backbone, monkeypatch, r):
    _set_config(peft_dir, r=r, lora_alpha=r)
    biggest = []
    zeros = torch.zeros

    def recording_zeros(*size, **kw):
        dims = size[0] if len(size) == 1 and isinstance(size[0], (tuple, list)) else size
        biggest.append(int(torch.tensor(dims, dtype=torch.float64).prod()))
        return zeros(*size, **kw)

    monkeypatch.setattr(torch, "zeros", recording_zeros)
    with pytest.raises(AdapterFormatError, match=rf"r={r} needs A"):
        import_peft(peft_dir, backbone)
    assert max(biggest, default=0) < 10_000, f"allocated {max(biggest)} values before checking shapes"


@pytest.mark.parametrize("dtype", [torch.int32, torch.int8, torch.bool])
def test_peft_weights_that_are_not_floats_are_refused(peft_dir, backbone, dtype):
    weights = peft_dir / "adapter_model.safetensors"
    save_file({k: v.to(dtype) for k, v in load_file(weights).items()}, weights)
    with pytest.raises(AdapterFormatError, match="must be floating point"):
        import_peft(peft_dir, backbone)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_peft_weights_still_import(peft_dir, backbone, dtype):
    weights = peft_dir / "adapter_model.safetensors"
    save_file({k: v.to(dtype) for k, v in load_file(weights).items()}, weights)
    adapter = import_peft(peft_dir, backbone)
    assert adapter.A["q_proj"].dtype == torch.float32 and adapter.rank() == 2


FIFO_CHILD = r"""
import json, os, sys
from pathlib import Path
from lora_memory import export_peft, import_peft, load_adapter, load_checkpoint
from tests.conftest import make_tiny_backbone, random_adapter

root, backbone = Path(sys.argv[1]), make_tiny_backbone()
checks = {f"peft {name}": name for name in ("adapter_model.safetensors", "adapter_config.json", "lora_memory.json")}
checks |= {"checkpoint": None, "adapter file": None}
for check, name in checks.items():
    print(json.dumps({"started": check}), flush=True)
    if name is not None:
        folder = export_peft(random_adapter(backbone), backbone, root / check.replace(" ", "-"))
        (folder / name).unlink()
        os.mkfifo(folder / name)
        call = lambda: import_peft(folder, backbone)
    else:
        fifo = root / check.replace(" ", "-")
        os.mkfifo(fifo)
        call = (lambda: load_checkpoint(fifo, backbone)) if check == "checkpoint" else (lambda: load_adapter(fifo))
    try:
        call()
        print(json.dumps({"check": check, "error": None}), flush=True)
    except Exception as exc:
        print(json.dumps({"check": check, "error": type(exc).__name__, "message": str(exc)}), flush=True)
"""


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_fifos_as_peft_checkpoint_or_adapter_files_are_refused_not_read(tmp_path):
    """In a child process: a read blocked on a FIFO holds the GIL (safetensors' open), so only a
    separate process can be stopped when it hangs."""
    child = subprocess.Popen([sys.executable, "-c", FIFO_CHILD, str(tmp_path)], cwd=ROOT, stdout=subprocess.PIPE,
                             text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    try:
        out, _ = child.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        child.kill()
        out, _ = child.communicate()
    lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    results = {m["check"]: m for m in lines if "check" in m}
    hung = [m["started"] for m in lines if "started" in m and m["started"] not in results]
    assert not hung, f"blocked reading a FIFO: {hung}"
    expected = {"checkpoint": "CheckpointError"}
    assert len(results) == 5
    for check, result in results.items():
        assert result["error"] == expected.get(check, "AdapterFormatError") and "FIFO" in result["message"], result


@pytest.mark.parametrize("rank", [-1, 0, 10**9, 1e9, 2.5])
def test_a_checkpoint_header_with_a_bad_rank_is_refused_without_allocating(tmp_path, backbone, rank):
    path = save_checkpoint(tmp_path / "net.safetensors", fresh("doc2lora", backbone))
    tensors = load_file(path)
    size = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(json.loads(path.read_bytes()[8 : 8 + size])["__metadata__"]["lora_memory"])
    header["config"]["rank"] = rank
    save_file(tensors, path, metadata={"lora_memory": json.dumps(header)})
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="save it again"):
        load_checkpoint(path, backbone)
    assert time.perf_counter() - start < 5


# ---- 6. read-only and busy stores ----------------------------------------------------------------
READ_ONLY_CHILD = r"""
import json, sys
from lora_memory import ParametricMemory
from lora_memory.errors import ReadOnlyStoreError
from lora_memory.store import Store
from tests.conftest import lively_backbone, lively_doc2lora, random_adapter
from tests.test_memory import HashEncoder

path = sys.argv[1]
store = Store(path)
out = {"read_only": store.read_only, "ids": store.ids(), "text": store.get("alpha").text[:20]}
out["rank"] = store.adapter("alpha").rank()
try:
    store.put("x", "t", random_adapter(lively_backbone()), identity=lively_backbone().identity, tokens=1)
except ReadOnlyStoreError as exc:
    out["put"] = str(exc)
backbone = lively_backbone()
with ParametricMemory(path, backbone=backbone, doc2lora=lively_doc2lora(backbone), encoder=HashEncoder(),
                      max_new_tokens=4) as memory:
    out["routed"] = memory.ask("What is the code of project bravo?").document_ids
    for name, call in (("add", lambda: memory.add("The sky.", id="new")), ("delete", lambda: memory.delete("alpha"))):
        try:
            call()
        except ReadOnlyStoreError as exc:
            out[name] = type(exc).__name__
print(json.dumps(out))
"""


def _without_root_powers():
    """preexec_fn for a child run as root: drop the capabilities that bypass file permissions."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, from the bounding set: gone after exec
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_a_read_only_store_opens_for_reading_in_another_process(tmp_path, lively, lively_net):
    """Files the reading process cannot write: mode 0444/0555 (a root process drops the powers
    that ignore modes), read by another process."""
    if os.geteuid() == 0 and not sys.platform.startswith("linux"):
        pytest.skip("cannot drop root's file powers here")
    store_dir = tmp_path / "store"
    with ParametricMemory(store_dir, backbone=lively, doc2lora=lively_net, encoder=HashEncoder()) as memory:
        memory.add_documents(DOCS[:2], ids=NAMES[:2], progress=False)
    before = _tree(store_dir)
    for p in [store_dir, *store_dir.rglob("*")]:
        os.chmod(p, 0o555 if p.is_dir() else 0o444)
    try:
        result = subprocess.run(
            [sys.executable, "-c", READ_ONLY_CHILD, str(store_dir)],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
            preexec_fn=_without_root_powers if os.geteuid() == 0 else None,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )
    finally:
        for p in [store_dir, *store_dir.rglob("*")]:
            os.chmod(p, 0o755 if p.is_dir() else 0o644)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["read_only"] and out["ids"] == NAMES[:2] and out["rank"] > 0
    assert "open read-only" in out["put"] and "not writable" in out["put"]
    assert out["routed"] == ["bravo"] and out["add"] == out["delete"] == "ReadOnlyStoreError"
    assert _tree(store_dir) == before


def test_read_only_on_request_reads_and_refuses_writes(tmp_path, lively, lively_net, monkeypatch):
    with ParametricMemory(tmp_path, backbone=lively, doc2lora=lively_net, encoder=HashEncoder()) as memory:
        memory.add_documents(DOCS[:3], ids=NAMES[:3], progress=False)
    before = _tree(tmp_path)
    monkeypatch.setattr("lora_memory.memory.internalize_segments", lambda *a, **k: pytest.fail("internalized"))
    with ParametricMemory(tmp_path, backbone=lively, doc2lora=lively_net, encoder=HashEncoder(),
                          max_new_tokens=4, read_only=True) as memory:
        assert memory.read_only and memory.ids() == NAMES[:3]
        assert memory.ask(question(NAMES[2])).document_ids == [NAMES[2]]  # embeddings kept in memory
        for call in (lambda: memory.add("The sky.", id="new"), lambda: memory.update(NAMES[0], "x y"),
                     lambda: memory.delete(NAMES[0]), lambda: memory.add_documents(["a b"], progress=False)):
            with pytest.raises(ReadOnlyStoreError, match="read_only=True was passed"):
                call()
    sqlite_side_files = ("memory.sqlite-wal", "memory.sqlite-shm")  # a read-only reader's WAL index stays
    assert {k: v for k, v in _tree(tmp_path).items() if k not in sqlite_side_files} == before
    with pytest.raises(StoreError, match="no lora-memory store"):
        Store(tmp_path / "nowhere", read_only=True)
    assert not (tmp_path / "nowhere").exists()


LOCK_HOLDER = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
"""


def test_a_busy_store_waits_then_names_the_other_process(tmp_path, backbone):
    store = Store(tmp_path)
    _put(store, backbone, "d")
    store.close()
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path / STORE_FILE)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        start = time.perf_counter()
        store = Store(tmp_path, busy_timeout=0.5)  # opening needs no write lock
        assert store.ids() == ["d"] and time.perf_counter() - start < 5
        for write in (lambda: _put(store, backbone, "e"), lambda: store.delete("d")):
            start = time.perf_counter()
            with pytest.raises(StoreBusyError, match=r"another process has held its write lock for over 0.5 s"):
                write()
            assert 0.4 < time.perf_counter() - start < 5
        with pytest.raises(StoreBusyError):
            ParametricMemory(tmp_path, backbone=backbone, busy_timeout=0.2).delete("d")
        assert store.ids() == ["d"]
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    _put(store, backbone, "e")  # free again
    assert store.ids() == ["d", "e"]


# ---- 7. the command line ---------------------------------------------------------------------------
def _cli_cases(tmp: Path, backbone, model: str) -> dict:
    doc = tmp / "doc.txt"
    doc.write_text("The special magic number is 4821. " * 5)
    existing = export_peft(random_adapter(backbone), backbone, tmp / "existing-adapter")
    own = tmp / "own-config"
    own.mkdir()
    (own / "adapter_config.json").write_text('{"mine": true}')
    busy = tmp / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    (tmp / "binary.bin").write_bytes(b"\xff\xfe\x00\x81" * 50)
    (tmp / "a-dir").mkdir()
    model_args = ["--model", model, "--device", "cpu"]
    internalize = ["internalize", str(doc), *model_args]
    cases = {
        "output-is-an-adapter": ([*internalize, "-o", str(existing)], r"holds a PEFT adapter.*--force"),
        "output-has-users-config": ([*internalize, "-o", str(own)], r"holds a PEFT adapter.*--force"),
        "output-not-empty": ([*internalize, "-o", str(busy)], r"not empty.*--force"),
        "output-is-a-file": ([*internalize, "-o", str(tmp / "binary.bin")], r"is a file"),
        "output-is-the-input": ([*internalize, "-o", str(doc), "--force"], r"would overwrite the input"),
        "adapt-output-is-an-adapter": (["adapt", "Reply with one word.", "-o", str(existing), *model_args], r"--force"),
        "input-missing": (["internalize", str(tmp / "nowhere"), "-o", str(tmp / "o"), *model_args], r"does not exist"),
        "input-binary": (["internalize", str(tmp / "binary.bin"), "-o", str(tmp / "o"), *model_args], r"not UTF-8"),
        "input-directory": (["internalize", str(tmp / "a-dir"), "-o", str(tmp / "o"), *model_args], r"a directory"),
        "chunk-tokens-negative": ([*internalize, "-o", str(tmp / "o"), "--chunk-tokens", "-5"], r"at least 1"),
        "max-new-tokens-zero": (["ask", str(existing), "q", "--max-new-tokens", "0", *model_args], r"at least 1"),
        "adapter-is-a-file": (["ask", str(doc), "What?", *model_args], r"not a PEFT adapter folder"),
        "question-empty": (["ask", str(existing), "", *model_args], r"question is empty"),
        "device-not-a-device": ([*internalize, "-o", str(tmp / "o"), "--device", "gpu7"], r"not a device"),
    }
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp / "pipe")
        cases["input-fifo"] = (["internalize", str(tmp / "pipe"), "-o", str(tmp / "o"), *model_args], r"FIFO")
    if not torch.cuda.is_available():
        cases["device-cuda-without-cuda"] = (
            [*internalize, "-o", str(tmp / "o"), "--device", "cuda"], r"CUDA is not available"
        )
    return cases


def _unblock_fifo(fifo: Path) -> None:
    time.sleep(20)
    for _ in range(100):
        try:
            fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            os.write(fd, b"unblocked")
            os.close(fd)
            return
        except OSError:  # no reader (any more)
            time.sleep(0.2)


CLI_CASES = [
    "output-is-an-adapter", "output-has-users-config", "output-not-empty", "output-is-a-file", "output-is-the-input",
    "adapt-output-is-an-adapter", "input-missing", "input-binary", "input-directory", "input-fifo",
    "chunk-tokens-negative", "max-new-tokens-zero", "adapter-is-a-file", "question-empty",
    "device-not-a-device", "device-cuda-without-cuda",
]


@pytest.mark.parametrize("case", CLI_CASES)
def test_cli_user_errors_are_one_line_and_exit_2(tiny_model_dir, backbone, tmp_path, capsys, case):
    cases = _cli_cases(tmp_path, backbone, str(tiny_model_dir))
    if case not in cases:
        pytest.skip("not applicable on this machine")
    argv, pattern = cases[case]
    before = _tree(tmp_path)
    capsys.readouterr()
    if case == "input-fifo":  # were the FIFO read (Python's read lets go of the GIL), unblock it after a while
        threading.Thread(target=_unblock_fifo, args=(tmp_path / "pipe",), daemon=True).start()
    start = time.perf_counter()
    assert cli_main(argv) == 2
    assert time.perf_counter() - start < 15, "the command blocked"
    err = capsys.readouterr().err
    assert "Traceback" not in err and "error: " in err, err
    assert re.search(pattern, err, flags=re.DOTALL), err
    assert _tree(tmp_path) == before, "a refused command changed files"


def test_cli_force_overwrites_an_adapter_folder(tiny_model_dir, tmp_path, capsys):
    doc = tmp_path / "doc.txt"
    doc.write_text("The special magic number is 4821. " * 5)
    out = tmp_path / "adapter"
    args = ["internalize", str(doc), "-o", str(out), "--model", str(tiny_model_dir), "--device", "cpu"]
    assert cli_main(args) == 0
    (out / "keep.txt").write_text("mine")
    first = (out / "adapter_model.safetensors").stat().st_mtime_ns
    assert cli_main(args) == 2 and "--force" in capsys.readouterr().err
    assert (out / "adapter_model.safetensors").stat().st_mtime_ns == first
    assert cli_main([*args, "--force"]) == 0
    assert (out / "keep.txt").read_text() == "mine" and (out / "adapter_model.safetensors").stat().st_mtime_ns != first


# ---- 8. the remaining errors are named; ids are NFC ---------------------------------------------------
def test_nfc_and_nfd_spellings_of_an_id_are_one_document(tmp_path, backbone):
    nfc, nfd = unicodedata.normalize("NFC", "café-é"), unicodedata.normalize("NFD", "café-é")
    assert nfc != nfd
    store = Store(tmp_path)
    _put(store, backbone, nfd)
    _put(store, backbone, nfc, seed=1)  # replaces it
    assert store.ids() == [nfc] and nfd in store and store.get(nfd).text == "text 1"
    store.delete(nfd)
    assert store.ids() == []


def test_hand_edited_rows_raise_store_errors_or_are_recomputed(tmp_path, lively, lively_net):
    models = {"backbone": lively, "doc2lora": lively_net, "encoder": HashEncoder(), "max_new_tokens": 4}
    with ParametricMemory(tmp_path, **models) as memory:
        memory.add_documents(DOCS[:3], ids=NAMES[:3], progress=False)
        expected = memory.ask(question(NAMES[1])).document_ids
    _edit(tmp_path, "UPDATE documents SET metadata = 'not json {' WHERE id = ?", (NAMES[0],))
    _edit(tmp_path, "UPDATE segments SET embedding = x'00010203040506' WHERE document_id = ?", (NAMES[1],))
    _edit(tmp_path, "UPDATE segments SET embedding = zeroblob(12) WHERE document_id = ?", (NAMES[2],))
    with ParametricMemory(tmp_path, **models) as memory:
        with pytest.raises(StoreError, match=r"metadata of document 'alpha'.*not a JSON object"):
            memory.get(NAMES[0])
        assert memory.ask(question(NAMES[1])).document_ids == expected  # bad embeddings are computed again
        assert memory.ask(question(NAMES[2])).document_ids == [NAMES[2]]
        memory.update(NAMES[0], DOCS[0], metadata={"fixed": True})
        assert memory.get(NAMES[0]).metadata == {"fixed": True}


def test_lone_surrogates_and_deep_metadata_fail_before_internalizing(lively, lively_net, monkeypatch):
    monkeypatch.setattr("lora_memory.memory.internalize_segments", lambda *a, **k: pytest.fail("internalized first"))
    deep: dict = {}
    node = deep
    for _ in range(100_000):
        node["a"] = node = {}
    with ParametricMemory(backbone=lively, doc2lora=lively_net) as memory:
        for call, error in (
            (lambda: memory.add("The sky.", id="doc\udc80"), InvalidIdError),
            (lambda: memory.add("The sky \ud800 is blue.", id="x"), DocumentError),
            (lambda: memory.add("The sky.", id="x", metadata=deep), DocumentError),
        ):
            with pytest.raises(error, match="surrogate|nested too deeply"):
                call()
        assert memory.ids() == []


def test_a_peft_config_naming_another_base_model_needs_an_explicit_override(tmp_path, backbone):
    folder = export_peft(random_adapter(backbone, rank=2), backbone, tmp_path / "a")
    (folder / "lora_memory.json").unlink()  # someone else's PEFT folder: only the config names the model
    for same in (backbone.name, f"/home/me/models/{backbone.name}", f"SomeOrg/{backbone.name}"):
        _set_config(folder, base_model_name_or_path=same)
        import_peft(folder, backbone)
    _set_config(folder, base_model_name_or_path="HuggingFaceTB/SmolLM2-135M")
    with pytest.raises(BaseModelMismatchError, match=r"SmolLM2-135M.*strict_name=False"):
        import_peft(folder, backbone)
    assert import_peft(folder, backbone, strict_name=False).rank() == 2


def test_every_public_error_is_a_lora_memory_error():
    assert issubclass(ReadOnlyStoreError, StoreError) and issubclass(StoreBusyError, StoreError)
    assert issubclass(QuestionError, LoraMemoryError)


# ---- migration: a store written by the previous version ---------------------------------------------
V1_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lora_memory (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS documents (
        id TEXT PRIMARY KEY, text TEXT NOT NULL, metadata TEXT NOT NULL, tokens INTEGER NOT NULL,
        chunks INTEGER NOT NULL, adapter_file TEXT NOT NULL UNIQUE, adapter_sha256 TEXT NOT NULL,
        adapter_nbytes INTEGER NOT NULL, embedding BLOB, embedding_model TEXT, created REAL NOT NULL,
        updated REAL NOT NULL)""",
)


def _v1_store(directory: Path, backbone, ids: list[str]) -> dict:
    """A store exactly as version 1 wrote it: uuid-named blobs, version '1', ids as given (not NFC)."""
    (directory / ADAPTER_DIR).mkdir(parents=True)
    conn = sqlite3.connect(directory / STORE_FILE, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    for statement in V1_SCHEMA:
        conn.execute(statement)
    conn.executemany("INSERT INTO lora_memory VALUES (?, ?)", [("format", "lora-memory-store"), ("version", "1"),
                     ("base_model", json.dumps(backbone.identity.to_dict()))])
    adapters = {}
    for i, doc_id in enumerate(ids):
        adapters[doc_id] = random_adapter(backbone, rank=2, seed=i)
        name = f"{uuid.uuid4().hex}.safetensors"
        sha = save_adapter(directory / ADAPTER_DIR / name, adapters[doc_id], backbone.identity)
        conn.execute("INSERT INTO documents VALUES (?, ?, '{}', 1, 1, ?, ?, 0, NULL, NULL, ?, ?)",
                     (doc_id, f"text {i}", name, sha, float(i), float(i)))
    conn.close()
    return adapters


def test_a_version_1_store_opens_and_is_upgraded(tmp_path, backbone):
    nfd = unicodedata.normalize("NFD", "résumé")
    adapters = _v1_store(tmp_path, backbone, ["plain", nfd])
    legacy = _blobs(tmp_path)

    ro = Store(tmp_path, read_only=True)  # reading needs no upgrade, and makes none
    assert ro.ids() == ["plain", nfd] and _same(ro.adapter("plain"), adapters["plain"])
    ro.close()
    with sqlite3.connect(tmp_path / STORE_FILE) as conn:
        assert conn.execute("SELECT value FROM lora_memory WHERE key = 'version'").fetchone() == ("1",)

    store = Store(tmp_path)
    nfc = unicodedata.normalize("NFC", nfd)
    assert store.ids() == ["plain", nfc] and _blobs(tmp_path) == legacy  # v1 blob names stay valid
    assert _same(store.adapter(nfd), adapters[nfd]) and _same(store.adapter(nfc), adapters[nfd])
    new = _put(store, backbone, "plain", seed=9, must_exist=True)
    assert _same(store.adapter("plain"), new)
    store.delete(nfc)
    _put(store, backbone, "fresh", seed=3)
    assert all(name.startswith("lm-") for name in _blobs(tmp_path)) and _blobs(tmp_path) == _rows(tmp_path)
    store.close()
    with sqlite3.connect(tmp_path / STORE_FILE) as conn:
        assert conn.execute("SELECT value FROM lora_memory WHERE key = 'version'").fetchone() == ("3",)
    assert Store(tmp_path).ids() == ["plain", "fresh"]


def test_upgrading_waits_for_a_busy_store_and_names_it(tmp_path, backbone):
    _v1_store(tmp_path, backbone, ["a"])
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path / STORE_FILE)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(StoreBusyError, match="another process"):
            Store(tmp_path, busy_timeout=0.3)
        assert Store(tmp_path, read_only=True).ids() == ["a"]  # reading does not wait
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert Store(tmp_path).ids() == ["a"]
