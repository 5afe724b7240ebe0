"""The persistent store: round trips, atomic replacement, crash debris, foreign files, threads."""

import hashlib
import sqlite3
import threading

import pytest
import torch

from lora_memory import (
    AdapterFormatError,
    BaseModelMismatchError,
    DocumentNotFoundError,
    InvalidIdError,
    StoreError,
    load_adapter,
    save_adapter,
)
from lora_memory.adapter_io import stored_nbytes
from lora_memory.store import ADAPTER_DIR, STORE_FILE, Store
from tests.conftest import make_tiny_backbone, random_adapter

BAD_IDS = ["", "a/b", "a\\b", "..", "v1..2", "nul\x00", "x" * 201, 5, None]


def _put(store, backbone, doc_id, seed=0, **kw):
    adapter = random_adapter(backbone, rank=2, seed=seed, scale=0.5)
    store.put(doc_id, f"text {seed}", adapter, identity=backbone.identity, tokens=10 + seed, **kw)
    return adapter


def _blobs(directory):
    return sorted(p.name for p in (directory / ADAPTER_DIR).iterdir())


def _assert_same(a, b):
    assert a.layers == b.layers and a.scale == b.scale and a.base_model == b.base_model
    assert dict(a.metadata) == dict(b.metadata)
    for m in a.modules:
        assert torch.equal(a.A[m], b.A[m]) and torch.equal(a.B[m], b.B[m])


def test_adapter_file_round_trip_is_bit_identical(tmp_path, backbone):
    adapter = random_adapter(backbone, modules=("down_proj", "q_proj"), layers=(1, 3), scale=0.7)
    sha = save_adapter(tmp_path / "a.safetensors", adapter, backbone.identity)
    assert len(sha) == 64
    _assert_same(load_adapter(tmp_path / "a.safetensors", backbone.identity), adapter)
    with pytest.raises(BaseModelMismatchError):
        load_adapter(tmp_path / "a.safetensors", make_tiny_backbone(name="other", hidden=16).identity)


@pytest.mark.parametrize("precision, per_value, tolerance", [("fp16", 2, 1e-3), ("int8", 1, 1e-2)])
def test_lower_precision_files_are_smaller_and_close(tmp_path, backbone, precision, per_value, tolerance):
    adapter = random_adapter(backbone, modules=("down_proj", "q_proj"), layers=(1, 3), scale=0.7)
    full, small = tmp_path / "full.safetensors", tmp_path / "small.safetensors"
    save_adapter(full, adapter, backbone.identity)
    save_adapter(small, adapter, backbone.identity, precision=precision)
    assert small.stat().st_size < full.stat().st_size
    assert stored_nbytes(adapter, precision) < stored_nbytes(adapter, "fp32") * per_value / 4 + 1000
    back = load_adapter(small, backbone.identity)
    assert back.layers == adapter.layers and back.scale == adapter.scale
    for m in adapter.modules:
        assert back.A[m].dtype == torch.float32 and back.A[m].shape == adapter.A[m].shape
        for got, want in ((back.A[m], adapter.A[m]), (back.B[m], adapter.B[m])):
            assert (got - want).abs().max() <= tolerance * want.abs().max()
            assert not torch.equal(got, want)  # really stored at lower precision


def test_store_reports_the_bytes_it_stores(tmp_path, backbone):
    adapter = random_adapter(backbone)
    store = Store(tmp_path / "s")
    for doc_id, precision in (("a", "fp32"), ("b", "int8")):
        store.put(doc_id, "t", adapter, identity=backbone.identity, tokens=1, precision=precision)
    assert store.get("a").adapter_bytes == adapter.nbytes
    assert store.get("b").adapter_bytes == stored_nbytes(adapter, "int8") < adapter.nbytes / 3
    assert torch.allclose(store.adapter("b").B["down_proj"], adapter.B["down_proj"], atol=1e-2)
    with pytest.raises(ValueError, match="precision"):
        store.put("c", "t", adapter, identity=backbone.identity, tokens=1, precision="int4")
    assert "c" not in store


def test_int8_file_with_wrong_scales_is_a_format_error(tmp_path, backbone):
    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    path = tmp_path / "q.safetensors"
    save_adapter(path, random_adapter(backbone), backbone.identity, precision="int8")
    with safe_open(path, "pt") as f:
        meta = f.metadata()
    tensors = load_file(path)
    tensors["A.down_proj.scale"] = tensors["A.down_proj.scale"][..., :1, :].contiguous()
    save_file(tensors, path, metadata=meta)
    with pytest.raises(AdapterFormatError, match="int8"):
        load_adapter(path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "missing"])
def test_unreadable_adapter_file_names_the_file(tmp_path, backbone, damage):
    path = tmp_path / "broken.safetensors"
    save_adapter(path, random_adapter(backbone))
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:100])
    elif damage == "garbage":
        path.write_bytes(b"not a safetensors file at all")
    else:
        path.unlink()
    with pytest.raises(AdapterFormatError, match=r"broken\.safetensors"):
        load_adapter(path)


def test_reopen_gives_everything_back(tmp_path, backbone):
    store = Store(tmp_path)
    adapters = {f"doc-{i}": _put(store, backbone, f"doc-{i}", seed=i, metadata={"n": i}) for i in range(3)}
    store.close()
    store = Store(tmp_path)
    assert store.ids() == ["doc-0", "doc-1", "doc-2"] and len(store) == 3 and "doc-1" in store
    doc = store.get("doc-2")
    assert (doc.text, doc.metadata, doc.tokens, doc.segments) == ("text 2", {"n": 2}, 12, 1)
    assert doc.adapter_bytes == adapters["doc-2"].nbytes
    for doc_id, adapter in adapters.items():
        _assert_same(store.adapter(doc_id), adapter)
    assert store.totals() == (3, 33, sum(a.nbytes for a in adapters.values()))


def test_update_replaces_the_blob_and_keeps_metadata(tmp_path, backbone):
    store = Store(tmp_path)
    _put(store, backbone, "d", seed=0, metadata={"source": "a.md"})
    before = _blobs(tmp_path)
    new = _put(store, backbone, "d", seed=1, must_exist=True)
    assert len(_blobs(tmp_path)) == 1 and _blobs(tmp_path) != before
    assert store.get("d").metadata == {"source": "a.md"} and store.get("d").text == "text 1"
    _assert_same(store.adapter("d"), new)
    with pytest.raises(DocumentNotFoundError, match="'absent'"):
        _put(store, backbone, "absent", must_exist=True)
    assert store.ids() == ["d"]


def test_delete_removes_row_and_blob(tmp_path, backbone):
    store = Store(tmp_path)
    _put(store, backbone, "a")
    _put(store, backbone, "b", seed=1)
    store.delete("a")
    assert store.ids() == ["b"] and len(_blobs(tmp_path)) == 1
    with pytest.raises(DocumentNotFoundError) as info:
        store.delete("a")
    assert isinstance(info.value, KeyError) and str(info.value).startswith("no document with id 'a'")


@pytest.mark.parametrize("bad", BAD_IDS)
def test_bad_ids_raise_and_change_nothing(tmp_path, backbone, bad):
    store = Store(tmp_path)
    _put(store, backbone, "ok")
    with pytest.raises(InvalidIdError) as info:
        _put(store, backbone, bad)
    assert isinstance(info.value, ValueError)
    assert store.ids() == ["ok"] and len(_blobs(tmp_path)) == 1


def test_failed_row_write_leaves_the_old_entry(tmp_path, backbone, monkeypatch):
    store = Store(tmp_path)
    old = _put(store, backbone, "d", seed=0)
    blobs = _blobs(tmp_path)

    def crash(*args, **kwargs):
        raise RuntimeError("simulated crash between blob and row")

    monkeypatch.setattr(Store, "_write_rows", staticmethod(crash))
    with pytest.raises(RuntimeError):
        _put(store, backbone, "d", seed=1)
    assert _blobs(tmp_path) == blobs and store.get("d").text == "text 0"
    _assert_same(store.adapter("d"), old)


def test_crash_debris_is_removed_on_open(tmp_path, backbone):
    store = Store(tmp_path)
    kept = _put(store, backbone, "d")
    store.close()
    adapters = tmp_path / ADAPTER_DIR
    (blob,) = _blobs(tmp_path)
    orphan = f"lm-{'ab' * 16}.safetensors"
    save_adapter(adapters / orphan, random_adapter(backbone))  # blob whose row never committed
    (adapters / f".{orphan}.{'cd' * 16}.tmp").write_bytes(b"half a file")  # write cut short
    # files the store did not write are never deleted, whatever they are called
    foreign = ["0123abcd.safetensors", ".0123abcd.safetensors.99.tmp", "mine.safetensors", "notes.txt"]
    for name in foreign:
        (adapters / name).write_bytes(b"the user's own")
    store = Store(tmp_path)
    assert _blobs(tmp_path) == sorted([blob, *foreign]) and store.ids() == ["d"]
    _assert_same(store.adapter("d"), kept)


def test_corrupt_blob_raises_adapter_format_error_naming_it(tmp_path, backbone):
    store = Store(tmp_path)
    _put(store, backbone, "d")
    store.close()
    (blob,) = (tmp_path / ADAPTER_DIR).iterdir()
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(AdapterFormatError, match=blob.name):
        Store(tmp_path).adapter("d")


def test_foreign_files_are_not_stores(tmp_path):
    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / STORE_FILE).write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="not a lora-memory store"):
        Store(garbage)

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / STORE_FILE) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    with pytest.raises(StoreError, match="not a lora-memory store"):
        Store(foreign)
    with sqlite3.connect(foreign / STORE_FILE) as conn:  # left exactly as it was
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        assert [r[0] for r in conn.execute("SELECT name FROM sqlite_master")] == ["users"]

    with pytest.raises(StoreError, match="is a file"):
        Store(garbage / STORE_FILE)


def test_store_is_bound_to_one_base_model(tmp_path, backbone):
    store = Store(tmp_path)
    _put(store, backbone, "d")
    other = make_tiny_backbone(name="other-model")
    with pytest.raises(BaseModelMismatchError):
        store.check_base_model(other.identity)
    with pytest.raises(BaseModelMismatchError):
        _put(store, other, "e")
    assert store.ids() == ["d"]


def test_threads_share_one_store(tmp_path, backbone):
    store = Store(tmp_path)
    errors = []

    def work(i):
        try:
            _put(store, backbone, f"t{i}", seed=i)
            _put(store, backbone, f"t{i}", seed=i + 100)  # and replace it
            assert store.get(f"t{i}").text == f"text {i + 100}"
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and sorted(store.ids()) == sorted(f"t{i}" for i in range(8))
    assert len(_blobs(tmp_path)) == 8


def test_stale_embeddings_are_not_saved(tmp_path, backbone):
    store = Store(tmp_path)
    _put(store, backbone, "d")
    ((doc_id, version, _),) = store.pending_embeddings("enc")
    _put(store, backbone, "d", seed=1)  # rewritten while the embedding was computed
    store.save_embeddings("enc", [(doc_id, version, torch.ones(4))])
    assert store.embeddings("enc")[0] == [] and len(store.pending_embeddings("enc")) == 1


def test_closed_store_says_so(tmp_path):
    store = Store(tmp_path)
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.ids()


def _assert_consistent(directory):
    """Every row's blob exists with its recorded SHA-256, and no other blob is there."""
    with sqlite3.connect(directory / STORE_FILE) as conn:
        rows = conn.execute("SELECT adapter_file, adapter_sha256 FROM segments").fetchall()
    conn.close()
    for name, sha in rows:
        assert hashlib.sha256((directory / ADAPTER_DIR / name).read_bytes()).hexdigest() == sha
    assert _blobs(directory) == sorted(name for name, _ in rows)


def test_snapshot_round_trip(tmp_path, backbone):
    store = Store(tmp_path / "s")
    for i, precision in enumerate(("fp32", "int8", "fp16")):
        _put(store, backbone, f"doc-{i}", seed=i, metadata={"n": i}, precision=precision)
    _put(store, backbone, "doc-1", seed=7)  # replaced: only the new blob belongs in the copy
    pending = store.pending_embeddings("enc")
    store.save_embeddings("enc", [(i, v, torch.full((4,), 1.0 + n)) for n, (i, v, _) in enumerate(pending)])
    (tmp_path / "s" / ADAPTER_DIR / "notes.txt").write_text("not a blob")  # unreferenced: not copied

    assert store.snapshot(tmp_path / "copy") == tmp_path / "copy"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["copy", "s"]  # no temporary directory left
    assert sorted(p.name for p in (tmp_path / "copy").iterdir()) == [ADAPTER_DIR, STORE_FILE]
    _assert_consistent(tmp_path / "copy")
    copy = Store(tmp_path / "copy")
    assert copy.ids() == store.ids() and copy.totals() == store.totals()
    for doc_id in store.ids():
        assert copy.get(doc_id) == store.get(doc_id)
        _assert_same(copy.adapter(doc_id), store.adapter(doc_id))
    assert _blobs(tmp_path / "copy") == sorted(set(_blobs(tmp_path / "s")) - {"notes.txt"})
    ids, vectors = copy.embeddings("enc")
    assert ids == store.embeddings("enc")[0] and torch.equal(vectors, store.embeddings("enc")[1])
    copy.check_base_model(backbone.identity)
    with pytest.raises(BaseModelMismatchError):
        copy.check_base_model(make_tiny_backbone(name="other-model").identity)

    _put(store, backbone, "later", seed=9)  # the two stores are independent afterwards
    assert "later" not in copy and store.snapshot(tmp_path / "empty").exists()  # an empty store copies too
    Store(tmp_path / "blank").snapshot(tmp_path / "blank-copy")
    assert Store(tmp_path / "blank-copy").ids() == []


def test_snapshot_refuses_a_target_that_holds_anything(tmp_path, backbone):
    store = Store(tmp_path / "s")
    _put(store, backbone, "d")
    other = Store(tmp_path / "other")
    _put(other, backbone, "o", seed=1)
    other.close()
    before = {p: p.read_bytes() for p in (tmp_path / "other").rglob("*") if p.is_file()}
    for target in (tmp_path / "other", tmp_path / "s"):
        with pytest.raises(StoreError, match="already holds a lora-memory store"):
            store.snapshot(target)
    assert {p: p.read_bytes() for p in (tmp_path / "other").rglob("*") if p.is_file()} == before
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "keep.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        store.snapshot(tmp_path / "busy")
    (tmp_path / "file").write_text("mine")
    with pytest.raises(StoreError, match="is a file"):
        store.snapshot(tmp_path / "file")
    assert (tmp_path / "file").read_text() == "mine" and (tmp_path / "busy" / "keep.txt").read_text() == "mine"
    assert Store(tmp_path / "other").ids() == ["o"]
    (tmp_path / "empty").mkdir()
    store.snapshot(tmp_path / "empty")  # an empty directory is fine
    assert Store(tmp_path / "empty").ids() == ["d"]
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.snapshot(tmp_path / "after-close")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "empty", "file", "other", "s"]


def test_snapshot_of_a_corrupt_blob_names_it_and_writes_nothing(tmp_path, backbone):
    store = Store(tmp_path / "s")
    _put(store, backbone, "a")
    _put(store, backbone, "b", seed=1)
    blob = tmp_path / "s" / ADAPTER_DIR / store._query("SELECT adapter_file FROM segments WHERE document_id = 'b'")[0][0]
    data = bytearray(blob.read_bytes())
    data[-5] ^= 0xFF
    blob.write_bytes(bytes(data))
    with pytest.raises(AdapterFormatError, match=blob.name):
        store.snapshot(tmp_path / "copy")
    blob.unlink()
    with pytest.raises(StoreError, match=f"{blob.name} of a stored document is missing"):
        store.snapshot(tmp_path / "copy")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]  # neither the target nor a temporary directory


def test_snapshots_taken_while_a_thread_writes_are_consistent(tmp_path, backbone):
    store = Store(tmp_path / "s")
    _put(store, backbone, "seed")
    done, errors = threading.Event(), []

    def write():
        try:
            for i in range(40):
                _put(store, backbone, f"w{i}", seed=i)
                _put(store, backbone, "seed", seed=100 + i)  # replacing deletes the old blob
                if i % 5 == 4:
                    store.delete(f"w{i - 2}")
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            done.set()

    writer = threading.Thread(target=write)
    writer.start()
    snapshots = []
    while not done.is_set() or len(snapshots) < 3:
        snapshots.append(store.snapshot(tmp_path / f"snap{len(snapshots)}"))
    writer.join()
    snapshots.append(store.snapshot(tmp_path / "final"))
    assert not errors
    contents = []
    for snap in snapshots:
        _assert_consistent(snap)
        copy = Store(snap)
        for doc_id in copy.ids():  # each adapter reads back through its SHA-256 check
            copy.adapter(doc_id)
        assert copy.get("seed").text.startswith("text ")
        contents.append(copy.ids())
        copy.close()
    assert contents[-1] == store.ids()  # taken after the writer finished: everything
    assert all(p.name in {"s"} | {s.name for s in snapshots} for p in tmp_path.iterdir())
