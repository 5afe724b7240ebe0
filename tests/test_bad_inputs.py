"""Issues 7 and 22: bad input raises a NAMED error that says what to do, and changes nothing.

One table, one row per bad input. Each row prepares what it needs, then makes one call that must
raise exactly the named exception (a `LoraMemoryError` subclass, not a TypeError or KeyError from
deep inside) with a message matching the row's pattern, which quotes the advice the message gives.
After every row the shared memory holds the same ids, texts, metadata and adapter bytes, and the
files the row prepared (foreign databases, broken checkpoints) are byte-for-byte as they were.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from lora_memory import (
    AdapterFormatError,
    BaseModelMismatchError,
    CheckpointError,
    DocumentError,
    DocumentNotFoundError,
    InvalidIdError,
    LoraMemoryError,
    ParametricMemory,
    PromptTooLongError,
    QuestionError,
    ReadOnlyStoreError,
    StoreError,
    TaskAdapter,
    export_peft,
    import_peft,
    load_checkpoint,
    save_checkpoint,
)
from lora_memory.hypernets import fresh
from lora_memory.store import ADAPTER_DIR, STORE_FILE
from tests.conftest import make_tiny_backbone, random_adapter
from tests.test_memory import DOCS, HashEncoder

MAX_DOC_TOKENS = 40


@dataclass
class Env:
    memory: ParametricMemory
    backbone: object
    net: object
    tmp: Path  # this row's own directory


@pytest.fixture(scope="module")
def net(lively_net):
    return lively_net


@pytest.fixture(scope="module")
def memory(lively, net, tmp_path_factory):
    memory = ParametricMemory(
        tmp_path_factory.mktemp("store"),
        backbone=lively,
        doc2lora=net,
        encoder=HashEncoder(),
        max_new_tokens=4,
        max_document_tokens=MAX_DOC_TOKENS,
    )
    memory.add(DOCS[0], id="a", metadata={"k": 1})
    memory.add(DOCS[1], id="b")
    memory.ask("What is the code of project alpha?")  # routing state exists before the rows run
    yield memory
    memory.close()


# ---- what "unchanged" means -----------------------------------------------------------------
def _memory_state(memory: ParametricMemory) -> tuple:
    docs = [memory.get(i) for i in memory.ids()]
    blobs = _files(Path(memory.path) / ADAPTER_DIR)
    return memory.ids(), [(d.id, d.text, d.metadata, d.tokens, d.segments) for d in docs], blobs


def _files(root: Path) -> dict[str, str]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)) + ("/" if p.is_dir() else ""): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else ""
        for p in sorted(root.rglob("*"))
    }


# ---- artifacts the rows use ----------------------------------------------------------------------
def _other(name="other-llama", hidden=32):
    return make_tiny_backbone(name=name, hidden=hidden)


def _checkpoint(env: Env, name="net.safetensors"):
    return save_checkpoint(env.tmp / name, env.net)


def _rewrite_header(path: Path, edit: Callable[[dict], None]) -> None:
    """Rewrite the lora-memory JSON inside a checkpoint's safetensors header, keeping it valid safetensors."""
    tensors = load_file(str(path))
    size = int.from_bytes(path.read_bytes()[:8], "little")
    header = json.loads(json.loads(path.read_bytes()[8 : 8 + size])["__metadata__"]["lora_memory"])
    edit(header)
    save_file(tensors, str(path), metadata={"lora_memory": json.dumps(header)})


def _peft(env: Env, backbone=None, **kw) -> Path:
    backbone = backbone or env.backbone
    return export_peft(random_adapter(backbone, modules=("q_proj", "down_proj"), rank=2, **kw), backbone, env.tmp / "peft")


def _edit_json(path: Path, **changes) -> None:
    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def _sqlite(path: Path, *statements: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(path)
    for s in statements:
        conn.execute(s)
    conn.commit()
    conn.close()


def _open(path, env: Env, **kw):
    """Open a memory at ``path`` and make it do something that touches the store."""
    kw = {"backbone": env.backbone, "doc2lora": env.net, **kw}
    with ParametricMemory(path, encoder=HashEncoder(), **kw) as memory:
        memory.add("The grass is green.", id="new")


def _task(env: Env) -> TaskAdapter:
    t2l = fresh("text2lora", env.backbone, encoder="backbone")
    return TaskAdapter("Reply with one word.", backbone=env.backbone, text2lora=t2l)


# ---- rows that need files prepared first ------------------------------------------------------
def ckpt_for(backbone):
    def prepare(e: Env):
        path = save_checkpoint(e.tmp / "other.safetensors", fresh("doc2lora", backbone))
        return lambda: load_checkpoint(path, e.backbone)

    return prepare


def memory_with_other_checkpoint(e: Env):
    path = save_checkpoint(e.tmp / "other.safetensors", fresh("doc2lora", _other()))
    return lambda: _open(e.memory.path, e, checkpoint=str(path), doc2lora=None)


def damaged_ckpt(damage: Callable[[bytes], bytes]):
    def prepare(e: Env):
        path = _checkpoint(e)
        path.write_bytes(damage(path.read_bytes()))
        return lambda: load_checkpoint(path, e.backbone)

    return prepare


def ckpt_header(edit: Callable[[dict], None]):
    def prepare(e: Env):
        path = _checkpoint(e)
        _rewrite_header(path, edit)
        return lambda: load_checkpoint(path, e.backbone)

    return prepare


def ckpt_not_safetensors(e: Env):
    path = e.tmp / "x.safetensors"
    path.write_bytes(b"\x80\x04\x95 a pickle, perhaps " * 20)
    return lambda: load_checkpoint(path, e.backbone)


def ckpt_wrong_kind(e: Env):
    path = _checkpoint(e)
    return lambda: load_checkpoint(path, e.backbone, kind="text2lora")


def peft_folder(damage: Callable[[Path], None], backbone=None):
    def prepare(e: Env):
        folder = _peft(e, backbone)
        damage(folder)
        return lambda: import_peft(folder, e.backbone)

    return prepare


def rename_targets(folder: Path) -> None:
    weights = str(folder / "adapter_model.safetensors")
    save_file({k.replace("q_proj", "qkv_proj"): v for k, v in load_file(weights).items()}, weights)


def truncate(path: Path, n: int = 64) -> None:
    path.write_bytes(path.read_bytes()[:-n])


def store_dir(prepare_dir: Callable[[Path], None], **open_kw):
    def prepare(e: Env):
        directory = e.tmp / "store"
        prepare_dir(directory)
        return lambda: _open(directory, e, **open_kw)

    return prepare


def foreign_db(*statements: str) -> Callable[[Path], None]:
    return lambda d: _sqlite(d / STORE_FILE, *statements)


OURS = "CREATE TABLE lora_memory (key TEXT PRIMARY KEY, value TEXT)"


def peft_weights_as(dtype):
    def damage(folder: Path) -> None:
        weights = str(folder / "adapter_model.safetensors")
        save_file({k: v.to(dtype) for k, v in load_file(weights).items()}, weights)

    return damage


def config_becomes_a_directory(folder: Path) -> None:
    (folder / "adapter_config.json").unlink()
    (folder / "adapter_config.json").mkdir()


def peft_path_is_a_file(e: Env):
    path = e.tmp / "adapter.safetensors"
    path.write_bytes(b"not a folder")
    return lambda: import_peft(path, e.backbone)


def deep_metadata(depth: int = 100_000) -> dict:
    root: dict = {}
    node = root
    for _ in range(depth):
        node["a"] = node = {}
    return root


def adapters_link(d: Path) -> None:
    (d.parent / "elsewhere").mkdir()
    (d.parent / "elsewhere" / "mine.safetensors").write_bytes(b"the user's")
    d.mkdir()
    (d / ADAPTER_DIR).symlink_to(d.parent / "elsewhere", target_is_directory=True)


def lost_database(d: Path) -> None:
    (d / ADAPTER_DIR).mkdir(parents=True)
    (d / ADAPTER_DIR / f"lm-{'0' * 32}.safetensors").write_bytes(b"a blob whose row is in the lost database")


def store_of_another_model(e: Env):
    other = _other()
    return lambda: _open(e.memory.path, e, backbone=other, doc2lora=fresh("doc2lora", other))


def on_task(call: Callable[[TaskAdapter], object]):
    def prepare(e: Env):
        task = _task(e)
        return lambda: call(task)

    return prepare


# ---- the table -------------------------------------------------------------------------------
# (id, prepare(env) -> the call that must fail, the named exception, a pattern of its advice)
Case = tuple[str, Callable[[Env], Callable[[], object]], type[LoraMemoryError], str]


def call(f: Callable[[Env], object]) -> Callable[[Env], Callable[[], object]]:
    """A row that needs no preparation: ``f(env)`` is the failing call."""
    return lambda e: lambda: f(e)


EMPTY = r"empty.*pass"
CHECKPOINT_ADVICE = r"save it again"
ID_ADVICE = r"choose an id"
STORE_ADVICE = r"give a new or empty directory"
UNKNOWN = r"'zz'.*ids\(\) lists"

CASES: list[Case] = [
    # -- documents
    ("doc-empty", call(lambda e: e.memory.add("", id="new")), DocumentError, EMPTY),
    ("doc-whitespace", call(lambda e: e.memory.add(" \n\t\u3000 ", id="new")), DocumentError, EMPTY),
    ("doc-over-max-size", call(lambda e: e.memory.add("word " * 200, id="new")), DocumentError, r"limit of 40.*split it or raise"),
    ("doc-invalid-utf8-bytes", call(lambda e: e.memory.add(b"\xff\xfe\xfa invalid", id="new")), DocumentError, r"must be str, got bytes.*decode"),
    ("doc-valid-bytes", call(lambda e: e.memory.add("The sky.".encode(), id="new")), DocumentError, r"decode bytes as UTF-8"),
    ("doc-int", call(lambda e: e.memory.add(42, id="new")), DocumentError, r"must be str, got int"),
    ("doc-none", call(lambda e: e.memory.add(None, id="new")), DocumentError, r"must be str, got NoneType"),
    ("doc-lone-surrogate", call(lambda e: e.memory.add("The sky \ud800 is blue.", id="new")), DocumentError, r"lone surrogate.*errors='replace'"),
    ("doc-list", call(lambda e: e.memory.add(["The sky.", "The grass."], id="new")), DocumentError, r"must be str, got list"),
    ("batch-one-bad-doc", call(lambda e: e.memory.add_documents(["The sky is blue.", ""], progress=False)), DocumentError, EMPTY),
    ("batch-is-one-string", call(lambda e: e.memory.add_documents("The sky is blue.", progress=False)), DocumentError, r"list of texts.*use add"),
    ("batch-is-none", call(lambda e: e.memory.add_documents(None, progress=False)), DocumentError, r"list of texts"),
    ("batch-is-int", call(lambda e: e.memory.add_documents(3, progress=False)), DocumentError, r"list of texts"),
    ("update-to-empty", call(lambda e: e.memory.update("a", "  ")), DocumentError, EMPTY),
    ("update-to-bytes", call(lambda e: e.memory.update("a", b"The sky.")), DocumentError, r"decode bytes as UTF-8"),
    ("update-over-max-size", call(lambda e: e.memory.update("a", "word " * 200)), DocumentError, r"split it or raise"),
    # -- metadata
    ("meta-not-json", call(lambda e: e.memory.add("The sky.", metadata={"x": object()})), DocumentError, r"must hold JSON values"),
    ("meta-nan", call(lambda e: e.memory.add("The sky.", metadata={"x": float("nan")})), DocumentError, r"JSON values.*no NaN"),
    ("meta-tuple-key", call(lambda e: e.memory.add("The sky.", metadata={(1, 2): 3})), DocumentError, r"JSON values.*str keys"),
    ("meta-set-value", call(lambda e: e.memory.add_documents(["The sky."], metadatas=[{"s": {1}}], progress=False)), DocumentError, r"JSON values"),
    ("meta-not-a-dict", call(lambda e: e.memory.add("The sky.", metadata=["x"])), DocumentError, r"must be a dict, got list"),
    ("meta-100000-deep", call(lambda e: e.memory.add("The sky.", metadata=deep_metadata())), DocumentError, r"nested too deeply.*flatten"),
    ("meta-empty-list", call(lambda e: e.memory.add("The sky.", metadata=[])), DocumentError, r"must be a dict, got list"),
    ("meta-update-not-json", call(lambda e: e.memory.update("a", DOCS[2], metadata={"x": b"raw"})), DocumentError, r"JSON values"),
    # -- questions
    ("question-over-context-window", call(lambda e: e.memory.ask("word " * 600)), PromptTooLongError, r"512-token window.*shorten the question"),
    ("question-empty", call(lambda e: e.memory.ask("")), QuestionError, EMPTY),
    ("question-whitespace", call(lambda e: e.memory.ask("\n \t")), QuestionError, EMPTY),
    ("question-none", call(lambda e: e.memory.ask(None)), QuestionError, r"must be str, got NoneType"),
    ("question-bytes", call(lambda e: e.memory.ask(b"What is the code?")), QuestionError, r"must be str, got bytes"),
    ("question-lone-surrogate", call(lambda e: e.memory.ask("What \udc80 is the code?")), QuestionError, r"lone surrogate"),
    ("question-int", call(lambda e: e.memory.ask(7)), QuestionError, r"must be str, got int"),
    ("ask-batch-one-string", call(lambda e: e.memory.ask_batch("What is the code?")), QuestionError, r"list of questions.*use ask"),
    ("ask-batch-none", call(lambda e: e.memory.ask_batch(None)), QuestionError, r"list of questions"),
    ("ask-batch-one-empty", call(lambda e: e.memory.ask_batch(["What is the code?", ""])), QuestionError, EMPTY),
    ("stream-empty-question", call(lambda e: e.memory.stream("")), QuestionError, EMPTY),
    ("task-description-empty", call(lambda e: TaskAdapter(" ", backbone=e.backbone)), DocumentError, EMPTY),
    ("task-input-empty", on_task(lambda t: t.invoke("")), QuestionError, EMPTY),
    ("task-input-bytes", on_task(lambda t: t.batch(["ok", b"x"])), QuestionError, r"must be str, got bytes"),
    # -- hypernetwork checkpoints
    ("ckpt-other-base-model-name", ckpt_for(_other()), BaseModelMismatchError, r"Load the backbone .*strict_name=False"),
    ("ckpt-other-base-model-shapes", ckpt_for(_other(hidden=16)), BaseModelMismatchError, r"hidden_size.*Load the backbone"),
    ("memory-with-other-checkpoint", memory_with_other_checkpoint, BaseModelMismatchError, r"Load the backbone"),
    ("ckpt-truncated", damaged_ckpt(lambda d: d[:-100]), CheckpointError, r"truncated or corrupt.*" + CHECKPOINT_ADVICE),
    ("ckpt-header-bytes-flipped", damaged_ckpt(lambda d: d[:8] + bytes(b ^ 0x5A for b in d[8:40]) + d[40:]), CheckpointError, r"truncated or corrupt.*" + CHECKPOINT_ADVICE),
    ("ckpt-header-length-flipped", damaged_ckpt(lambda d: bytes([d[0] ^ 0x10]) + d[1:]), CheckpointError, r"truncated or corrupt.*" + CHECKPOINT_ADVICE),
    ("ckpt-header-json-broken", damaged_ckpt(lambda d: d.replace(b'\\"kind\\": ', b'\\"kind\\"; ', 1)), CheckpointError, r"corrupt lora-memory header.*" + CHECKPOINT_ADVICE),
    ("ckpt-header-missing-base-model", ckpt_header(lambda h: h.pop("base_model")), CheckpointError, r"base_model.*" + CHECKPOINT_ADVICE),
    ("ckpt-header-bad-config", ckpt_header(lambda h: h["config"].update(bogus=1)), CheckpointError, r"bogus.*" + CHECKPOINT_ADVICE),
    ("ckpt-header-not-an-object", ckpt_header(lambda h: h.update(base_model=["tiny"])), CheckpointError, r"base_model.*" + CHECKPOINT_ADVICE),
    ("ckpt-header-rank-negative", ckpt_header(lambda h: h["config"].update(rank=-1)), CheckpointError, r"config.*" + CHECKPOINT_ADVICE),
    ("ckpt-header-rank-1e9", ckpt_header(lambda h: h["config"].update(rank=10**9)), CheckpointError, r"does not match the tensors.*" + CHECKPOINT_ADVICE),
    ("ckpt-header-rank-float", ckpt_header(lambda h: h["config"].update(rank=1e9)), CheckpointError, r"config.*" + CHECKPOINT_ADVICE),
    ("ckpt-not-safetensors", ckpt_not_safetensors, CheckpointError, r"truncated or corrupt.*" + CHECKPOINT_ADVICE),
    ("ckpt-missing", call(lambda e: load_checkpoint(e.tmp / "nowhere.safetensors", e.backbone)), CheckpointError, r"does not exist"),
    ("ckpt-wrong-kind", ckpt_wrong_kind, CheckpointError, r"holds a doc2lora network, not text2lora"),
    # -- PEFT folders
    ("peft-other-target-modules", peft_folder(rename_targets), AdapterFormatError, r"qkv_proj.*targets no Linear.*export it for"),
    ("peft-other-shapes", peft_folder(lambda d: (d / "lora_memory.json").unlink(), _other(hidden=48)), AdapterFormatError, r"needs A .*export it for"),
    ("peft-other-base-model", peft_folder(lambda d: None, _other(hidden=48)), BaseModelMismatchError, r"Load the backbone"),
    ("peft-truncated-weights", peft_folder(lambda d: truncate(d / "adapter_model.safetensors")), AdapterFormatError, r"truncated or corrupt.*export it again"),
    ("peft-rank-zero", peft_folder(lambda d: _edit_json(d / "adapter_config.json", r=0)), AdapterFormatError, r"'r'.*positive"),
    ("peft-alpha-nan", peft_folder(lambda d: _edit_json(d / "adapter_config.json", lora_alpha=float("nan"))), AdapterFormatError, r"'lora_alpha'.*finite"),
    ("peft-our-json-damaged", peft_folder(lambda d: _edit_json(d / "lora_memory.json", base_model={"name": "x"})), AdapterFormatError, r"lora_memory.json.*delete it or export"),
    ("peft-our-metadata-not-a-dict", peft_folder(lambda d: _edit_json(d / "lora_memory.json", metadata=[1])), AdapterFormatError, r"lora_memory.json.*delete it or export"),
    ("peft-rank-4000", peft_folder(lambda d: _edit_json(d / "adapter_config.json", r=4000)), AdapterFormatError, r"r=4000 needs A"),
    ("peft-int32-weights", peft_folder(peft_weights_as(torch.int32)), AdapterFormatError, r"I32.*floating point"),
    ("peft-config-is-a-directory", peft_folder(config_becomes_a_directory), AdapterFormatError, r"adapter_config.json.*directory"),
    ("peft-path-is-a-file", peft_path_is_a_file, AdapterFormatError, r"not a PEFT adapter folder: give the folder"),
    ("peft-config-names-another-model", peft_folder(lambda d: ((d / "lora_memory.json").unlink(), _edit_json(d / "adapter_config.json", base_model_name_or_path="HuggingFaceTB/SmolLM2-135M"))), BaseModelMismatchError, r"SmolLM2-135M.*strict_name=False"),
    ("peft-missing-folder", call(lambda e: import_peft(e.tmp / "nowhere", e.backbone)), AdapterFormatError, r"adapter_config.json is missing"),
    # -- ids
    ("get-unknown-id", call(lambda e: e.memory.get("zz")), DocumentNotFoundError, UNKNOWN),
    ("delete-unknown-id", call(lambda e: e.memory.delete("zz")), DocumentNotFoundError, UNKNOWN),
    ("update-unknown-id", call(lambda e: e.memory.update("zz", "The sky.")), DocumentNotFoundError, UNKNOWN),
    ("adapter-unknown-id", call(lambda e: e.memory.adapter("a", "zz")), DocumentNotFoundError, UNKNOWN),
    ("id-slash", call(lambda e: e.memory.add("The sky.", id="a/b")), InvalidIdError, r"path separator.*" + ID_ADVICE),
    ("id-backslash", call(lambda e: e.memory.add("The sky.", id="a\\b")), InvalidIdError, r"path separator.*" + ID_ADVICE),
    ("id-dotdot", call(lambda e: e.memory.add("The sky.", id="..")), InvalidIdError, r"'\.\.'.*" + ID_ADVICE),
    ("id-nul", call(lambda e: e.memory.add("The sky.", id="a\x00")), InvalidIdError, r"NUL.*" + ID_ADVICE),
    ("id-empty", call(lambda e: e.memory.add("The sky.", id="")), InvalidIdError, r"must be a non-empty str"),
    ("id-lone-surrogate", call(lambda e: e.memory.add("The sky.", id="doc\udc80")), InvalidIdError, r"lone surrogate.*" + ID_ADVICE),
    ("id-int", call(lambda e: e.memory.add("The sky.", id=7)), InvalidIdError, r"must be a non-empty str, got 7"),
    ("id-too-long", call(lambda e: e.memory.add("The sky.", id="x" * 201)), InvalidIdError, r"more than 200.*" + ID_ADVICE),
    ("get-path-traversal", call(lambda e: e.memory.get("../../etc/passwd")), InvalidIdError, ID_ADVICE),
    ("delete-backslash", call(lambda e: e.memory.delete("..\\a")), InvalidIdError, ID_ADVICE),
    ("update-slash", call(lambda e: e.memory.update("a/", "The sky.")), InvalidIdError, ID_ADVICE),
    ("batch-ids-one-string", call(lambda e: e.memory.add_documents(["x y", "y z"], ids="ab", progress=False)), InvalidIdError, r"list of str"),
    ("batch-ids-repeat", call(lambda e: e.memory.add_documents(["x y", "y z"], ids=["c", "c"], progress=False)), InvalidIdError, r"repeat"),
    # -- store directories
    ("store-garbage-sqlite", store_dir(lambda d: (d.mkdir(), (d / STORE_FILE).write_bytes(b"\x00garbage" * 64))), StoreError, r"not a lora-memory store.*" + STORE_ADVICE),
    ("store-foreign-sqlite", store_dir(foreign_db("CREATE TABLE users (name TEXT)", "INSERT INTO users VALUES ('x')")), StoreError, r"not a lora-memory store.*" + STORE_ADVICE),
    ("store-foreign-lora-memory-table", store_dir(foreign_db("CREATE TABLE lora_memory (a, b, c)")), StoreError, r"not a lora-memory store.*" + STORE_ADVICE),
    ("store-newer-version", store_dir(foreign_db(OURS, "INSERT INTO lora_memory VALUES ('format', 'lora-memory-store'), ('version', '99')")), StoreError, r"newer lora-memory.*upgrade"),
    ("store-damaged-version", store_dir(foreign_db(OURS, "INSERT INTO lora_memory VALUES ('format', 'lora-memory-store'), ('version', 'v?')")), StoreError, r"damaged.*" + STORE_ADVICE),
    ("store-path-is-a-file", store_dir(lambda d: d.write_text("notes")), StoreError, r"is a file.*give a new or existing directory"),
    ("store-sqlite-is-a-directory", store_dir(lambda d: (d / STORE_FILE).mkdir(parents=True)), StoreError, STORE_ADVICE),
    ("store-adapters-is-a-file", store_dir(lambda d: (d.mkdir(), (d / ADAPTER_DIR).write_text("x"))), StoreError, r"adapters.*not a directory.*" + STORE_ADVICE),
    ("store-adapters-is-a-symlink", store_dir(adapters_link), StoreError, r"symbolic link.*never follows links"),
    ("store-lost-database", store_dir(lost_database), StoreError, r"lost or moved.*Restore memory.sqlite"),
    ("store-foreign-files", store_dir(lambda d: (d.mkdir(), (d / "README.md").write_text("my project"))), StoreError, r"not empty.*allow_foreign_files=True"),
    ("store-read-only-add", call(lambda e: _open(e.memory.path, e, read_only=True)), ReadOnlyStoreError, r"open read-only.*write access"),
    ("store-of-another-base-model", store_of_another_model, BaseModelMismatchError, r"Load the backbone"),
]


def test_the_table_is_big_enough():
    assert len(CASES) >= 25 and len({c[0] for c in CASES}) == len(CASES)
    print(f"\nbad inputs: {len(CASES)} cases")


@pytest.mark.parametrize(("prepare", "error", "advice"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_raises_a_named_error_and_changes_nothing(memory, lively, net, tmp_path, prepare, error, advice):
    env = Env(memory, lively, net, tmp_path)
    call = prepare(env)
    before, files = _memory_state(memory), _files(tmp_path)
    with pytest.raises(LoraMemoryError) as info:
        call()
    assert type(info.value) is error, f"expected {error.__name__}, got {type(info.value).__name__}: {info.value}"
    message = str(info.value)
    assert re.search(advice, message, flags=re.DOTALL), f"the message does not say what to do: {message!r} lacks {advice!r}"
    assert _memory_state(memory) == before, "the memory changed"
    assert _files(tmp_path) == files, "files the call was given changed"
