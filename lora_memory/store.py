"""The embedded persistent store: one SQLite file plus one safetensors blob per adapter.

The blobs are written by the adapter codec (`lora_memory.adapter_io`); this module keeps the rows.

Layout of a store directory::

    memory.sqlite          documents: id, text, metadata, sizes, blob name and SHA-256, embedding
    adapters/<uuid>.safetensors

Every write puts the new blob under a fresh name (temporary file, fsync, rename) inside an SQLite
write transaction, commits the row, and only then deletes the blob it replaces. A crash at any
point therefore leaves the old entry or the new one, never half of one; the only debris is an
unreferenced blob, deleted the next time the store is opened. The database runs in WAL mode with
``synchronous=FULL``, so a committed row is on disk before the old blob goes. One connection
serves all threads behind a lock; nothing is ever pickled. `Store.snapshot` copies a live store
consistently (SQLite's backup API plus the blobs its rows name), which copying the files does not.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lora_memory.adapter import LoraAdapter
from lora_memory.adapter_io import adapter_from_bytes, save_adapter, stored_nbytes
from lora_memory.backbone import BaseModelIdentity
from lora_memory.errors import AdapterFormatError, DocumentError, DocumentNotFoundError, InvalidIdError, StoreError
from lora_memory.files import fsync_dir

STORE_FILE = "memory.sqlite"
ADAPTER_DIR = "adapters"
STORE_FORMAT = "lora-memory-store"
STORE_VERSION = 1
MAX_ID_LENGTH = 200

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lora_memory (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS documents (
        id TEXT PRIMARY KEY,
        text TEXT NOT NULL,
        metadata TEXT NOT NULL,          -- JSON object
        tokens INTEGER NOT NULL,
        chunks INTEGER NOT NULL,
        adapter_file TEXT NOT NULL UNIQUE,  -- fresh per write, so it doubles as a version
        adapter_sha256 TEXT NOT NULL,
        adapter_nbytes INTEGER NOT NULL, -- tensor bytes as stored, without the file header
        embedding BLOB,                  -- float32 router embedding, NULL until routing needs it
        embedding_model TEXT,            -- name of the encoder that made the embedding
        created REAL NOT NULL,
        updated REAL NOT NULL
    )""",
)


# ---- ids and records ----------------------------------------------------------------------------
def validate_id(doc_id: Any) -> str:
    """Return ``doc_id`` if it is a usable document id, else raise `InvalidIdError` saying why."""
    if not isinstance(doc_id, str) or not doc_id:
        raise InvalidIdError(f"a document id must be a non-empty str, got {doc_id!r}")
    problems = [
        what
        for what, bad in (
            ("a path separator", "/" in doc_id or "\\" in doc_id),
            ("'..'", ".." in doc_id),
            ("a NUL character", "\x00" in doc_id),
            (f"more than {MAX_ID_LENGTH} characters", len(doc_id) > MAX_ID_LENGTH),
        )
        if bad
    ]
    if problems:
        raise InvalidIdError(
            f"invalid document id {doc_id[:60]!r}: it contains {' and '.join(problems)}; choose an id without "
            f"'/', '\\', '..' or NUL, of at most {MAX_ID_LENGTH} characters"
        )
    return doc_id


def check_metadata(metadata: Any) -> dict[str, Any]:
    """A JSON round-tripped copy of ``metadata``; anything JSON cannot hold raises `DocumentError`."""
    if not isinstance(metadata, Mapping):
        raise DocumentError(f"document metadata must be a dict, got {type(metadata).__name__}")
    try:
        return json.loads(json.dumps(dict(metadata), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise DocumentError(f"document metadata must hold JSON values only (str keys, no NaN): {exc}") from exc


@dataclass(frozen=True)
class StoredDocument:
    """A document as the store keeps it.

    Attributes:
        id: the document's id.
        text: the full text that was internalized.
        metadata: the caller's JSON metadata.
        tokens: backbone tokens in the text.
        chunks: chunks the text was internalized in.
        adapter_bytes: size of the adapter's tensors as stored (at the precision it was stored in).
    """

    id: str
    text: str
    metadata: dict[str, Any]
    tokens: int
    chunks: int
    adapter_bytes: int


# ---- the store ----------------------------------------------------------------------------------
class Store:
    """Documents and their adapters in one directory, safe to share between threads.

    Args:
        directory: the store's directory; created when missing.
        cache_size: adapters kept in memory (least recently used are dropped).

    Raises:
        StoreError: ``directory`` is a file, or its ``memory.sqlite`` is not a lora-memory store.
    """

    def __init__(self, directory: str | os.PathLike, *, cache_size: int = 16):
        self.directory = Path(directory)
        if self.directory.exists() and not self.directory.is_dir():
            raise StoreError(
                f"{self.directory} is a file, not a lora-memory store: a store is a directory holding "
                f"{STORE_FILE} and {ADAPTER_DIR}/ (give a new or existing directory)"
            )
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / STORE_FILE
        self._adapters = self.directory / ADAPTER_DIR
        if self._adapters.exists() and not self._adapters.is_dir():
            raise StoreError(
                f"{self._adapters} is not a directory, so {self.directory} is not a lora-memory store; "
                "give a new or empty directory, or one created by ParametricMemory"
            )
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = _connect(self.path)
        self._adapters.mkdir(exist_ok=True)
        self._remove_orphans()
        # Blob names are unique per write, so a cached entry can never be stale.
        self._read_adapter = functools.lru_cache(maxsize=cache_size)(self._read_adapter_file)

    # ---- plumbing --------------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction on the open connection, under the thread lock."""
        with self._lock:
            if self._conn is None:
                raise StoreError(f"the store at {self.directory} is closed")
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            if self._conn is None:
                raise StoreError(f"the store at {self.directory} is closed")
            return self._conn.execute(sql, params).fetchall()

    def _not_found(self, doc_id: str) -> DocumentNotFoundError:
        return DocumentNotFoundError(
            f"no document with id {doc_id!r} in the store at {self.directory}; ids() lists the stored documents"
        )

    def _remove_orphans(self) -> None:
        """Delete blobs no row references: left by a crash between writing a blob and its row."""
        with self._transaction() as conn:  # writers hold this lock while their blob has no row yet
            referenced = {name for (name,) in conn.execute("SELECT adapter_file FROM documents")}
            for path in self._adapters.iterdir():
                if path.name not in referenced and path.name.endswith((".safetensors", ".tmp")):
                    path.unlink(missing_ok=True)

    # ---- writes ----------------------------------------------------------------------------
    def put(
        self,
        doc_id: str,
        text: str,
        adapter: LoraAdapter,
        *,
        identity: BaseModelIdentity,
        tokens: int,
        chunks: int,
        metadata: Mapping[str, Any] | None = None,
        must_exist: bool = False,
        precision: str = "fp32",
    ) -> None:
        """Insert or replace a document and its adapter, atomically.

        Args:
            identity: the backbone the adapter was made for; the first write binds the store to it.
            metadata: JSON metadata; None keeps a replaced document's metadata (``{}`` when new).
            must_exist: raise `DocumentNotFoundError` instead of inserting a new document.
            precision: how the adapter's tensors are stored (see `adapter_to_bytes`).
        """
        doc_id = validate_id(doc_id)
        meta = None if metadata is None else json.dumps(check_metadata(metadata))
        nbytes = stored_nbytes(adapter, precision)
        blob = self._adapters / f"{uuid.uuid4().hex}.safetensors"
        try:
            with self._transaction() as conn:
                self._bind(conn, identity)
                row = conn.execute("SELECT adapter_file FROM documents WHERE id = ?", (doc_id,)).fetchone()
                if row is None and must_exist:
                    raise self._not_found(doc_id)
                sha = save_adapter(blob, adapter, identity, precision)
                self._write_row(conn, doc_id, text, meta, tokens, chunks, blob.name, sha, nbytes, row is None)
        except BaseException:
            blob.unlink(missing_ok=True)
            raise
        if row is not None:
            (self._adapters / row[0]).unlink(missing_ok=True)

    @staticmethod
    def _write_row(
        conn: sqlite3.Connection,
        doc_id: str,
        text: str,
        meta: str | None,
        tokens: int,
        chunks: int,
        blob: str,
        sha: str,
        nbytes: int,
        new: bool,
    ) -> None:
        now = time.time()
        if new:
            conn.execute(
                "INSERT INTO documents (id, text, metadata, tokens, chunks, adapter_file, adapter_sha256, "
                "adapter_nbytes, created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (doc_id, text, meta or "{}", tokens, chunks, blob, sha, nbytes, now, now),
            )
        else:
            conn.execute(
                "UPDATE documents SET text = ?, metadata = COALESCE(?, metadata), tokens = ?, chunks = ?, "
                "adapter_file = ?, adapter_sha256 = ?, adapter_nbytes = ?, embedding = NULL, "
                "embedding_model = NULL, updated = ? WHERE id = ?",
                (text, meta, tokens, chunks, blob, sha, nbytes, now, doc_id),
            )

    def delete(self, doc_id: str) -> None:
        """Remove a document and its adapter blob; raises `DocumentNotFoundError` when absent."""
        doc_id = validate_id(doc_id)
        with self._transaction() as conn:
            row = conn.execute("SELECT adapter_file FROM documents WHERE id = ?", (doc_id,)).fetchone()
            if row is None:
                raise self._not_found(doc_id)
            conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
        (self._adapters / row[0]).unlink(missing_ok=True)

    # ---- base model ------------------------------------------------------------------------
    def _bind(self, conn: sqlite3.Connection, identity: BaseModelIdentity) -> None:
        """Bind an unbound store to ``identity``; a bound one must agree with it."""
        self.check_base_model(identity)
        conn.execute("INSERT OR IGNORE INTO lora_memory VALUES ('base_model', ?)", (json.dumps(identity.to_dict()),))

    def check_base_model(self, identity: BaseModelIdentity) -> None:
        """Raise `BaseModelMismatchError` if the store's adapters were made for another model."""
        rows = self._query("SELECT value FROM lora_memory WHERE key = 'base_model'")
        if rows:
            identity.check(BaseModelIdentity.from_dict(json.loads(rows[0][0])), f"memory store {self.directory}")

    # ---- reads -----------------------------------------------------------------------------
    def get(self, doc_id: str) -> StoredDocument:
        """The stored document; raises `DocumentNotFoundError` when absent."""
        doc_id = validate_id(doc_id)
        rows = self._query(
            "SELECT id, text, metadata, tokens, chunks, adapter_nbytes FROM documents WHERE id = ?", (doc_id,)
        )
        if not rows:
            raise self._not_found(doc_id)
        doc_id, text, meta, tokens, chunks, nbytes = rows[0]
        return StoredDocument(doc_id, text, json.loads(meta), tokens, chunks, nbytes)

    def adapter(self, doc_id: str) -> LoraAdapter:
        """The document's adapter, from the cache or its blob (checked against its SHA-256)."""
        doc_id = validate_id(doc_id)
        with self._lock:
            rows = self._query("SELECT adapter_file, adapter_sha256 FROM documents WHERE id = ?", (doc_id,))
            if not rows:
                raise self._not_found(doc_id)
            return self._read_adapter(*rows[0])

    def _read_adapter_file(self, name: str, sha256: str) -> LoraAdapter:
        path = self._adapters / name
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise StoreError(f"the adapter blob {path} of a stored document is missing; the store is damaged") from None
        if hashlib.sha256(data).hexdigest() != sha256:
            raise AdapterFormatError(
                f"{path} is corrupt: its SHA-256 differs from the one recorded when it was written"
            )
        return adapter_from_bytes(data, path)

    def ids(self) -> list[str]:
        """Document ids in the order they were first added."""
        return [doc_id for (doc_id,) in self._query("SELECT id FROM documents ORDER BY created, rowid")]

    def __len__(self) -> int:
        return self._query("SELECT COUNT(*) FROM documents")[0][0]

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and bool(self._query("SELECT 1 FROM documents WHERE id = ?", (doc_id,)))

    def short_texts(self, doc_ids: Sequence[str], max_tokens: int) -> dict[str, str | None]:
        """Each stored id's text, or None where it is over ``max_tokens`` (long texts are not read).

        Ids not in the store are left out, so a caller racing a delete sees the document gone.
        """
        marks = ",".join("?" * len(doc_ids))
        rows = self._query(
            f"SELECT id, CASE WHEN tokens <= ? THEN text END FROM documents WHERE id IN ({marks})",
            (max_tokens, *doc_ids),
        )
        return dict(rows)

    def totals(self) -> tuple[int, int, int]:
        """``(documents, tokens, adapter_bytes)`` over the whole store, from one consistent read."""
        n, tokens, nbytes = self._query(
            "SELECT COUNT(*), COALESCE(SUM(tokens), 0), COALESCE(SUM(adapter_nbytes), 0) FROM documents"
        )[0]
        return n, tokens, nbytes

    # ---- router embeddings -----------------------------------------------------------------
    def pending_embeddings(self, model: str) -> list[tuple[str, str, str]]:
        """``(id, version, text)`` of documents with no embedding by encoder ``model`` yet."""
        return self._query(
            "SELECT id, adapter_file, text FROM documents WHERE embedding IS NULL OR embedding_model IS NOT ? "
            "ORDER BY rowid",
            (model,),
        )

    def save_embeddings(self, model: str, rows: Sequence[tuple[str, str, Tensor]]) -> None:
        """Record ``(id, version, vector)`` embeddings; a document rewritten meanwhile is skipped."""
        with self._transaction() as conn:
            conn.executemany(
                "UPDATE documents SET embedding = ?, embedding_model = ? WHERE id = ? AND adapter_file = ?",
                [(vector.float().cpu().numpy().tobytes(), model, doc_id, version) for doc_id, version, vector in rows],
            )

    def embeddings(self, model: str) -> tuple[list[str], Tensor]:
        """Ids and ``(n, dim)`` embeddings of the documents embedded by encoder ``model``."""
        rows = self._query(
            "SELECT id, embedding FROM documents WHERE embedding_model = ? AND embedding IS NOT NULL ORDER BY rowid",
            (model,),
        )
        vectors = [torch.frombuffer(bytearray(blob), dtype=torch.float32) for _, blob in rows]
        return [doc_id for doc_id, _ in rows], torch.stack(vectors) if vectors else torch.empty(0, 0)

    # ---- snapshots -------------------------------------------------------------------------
    def snapshot(self, target_dir: str | os.PathLike) -> Path:
        """Write a consistent copy of the store to ``target_dir``, a new or empty directory.

        Copying the directory by hand can catch a write half done: a row without its blob, or a
        database page from before a commit and one from after. Here the database is copied with
        SQLite's backup API and then exactly the blobs its rows reference, all under the store's
        lock, so writers in this process wait and no blob the copy needs can be replaced meanwhile.
        Everything goes to a temporary directory beside the target, renamed into place at the end:
        a failure leaves no half-written store.

        Returns:
            The target directory, which opens as a `Store` with the same documents and adapters.

        Raises:
            StoreError: the target already holds a store (or anything else), an adapter blob is
                missing, or the store is closed.
            AdapterFormatError: an adapter blob no longer matches its recorded SHA-256 (the message
                names it); the source store is damaged, and nothing is written.
        """
        target = Path(target_dir)
        _check_snapshot_target(self.directory, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(os.path.abspath(target)).with_name(f".{target.name or 'snapshot'}.{uuid.uuid4().hex}.snapshot")
        try:
            (tmp / ADAPTER_DIR).mkdir(parents=True)
            with self._lock:
                if self._conn is None:
                    raise StoreError(f"the store at {self.directory} is closed")
                copy = sqlite3.connect(tmp / STORE_FILE, isolation_level=None)
                try:
                    self._conn.backup(copy)
                    # The blobs to copy are read from the copy, so they are exactly the ones its rows name.
                    rows = copy.execute("SELECT adapter_file, adapter_sha256 FROM documents").fetchall()
                finally:
                    copy.close()
                for name, sha256 in rows:
                    self._copy_blob(name, sha256, tmp / ADAPTER_DIR / name)
            fsync_dir(tmp / ADAPTER_DIR)
            fsync_dir(tmp)
            try:
                os.replace(tmp, target)  # fails if the target gained files meanwhile
            except OSError as exc:
                raise StoreError(f"cannot move the snapshot of {self.directory} into {target}: {exc}") from exc
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        fsync_dir(target.parent)
        return target

    def _copy_blob(self, name: str, sha256: str, dest: Path) -> None:
        """Copy one adapter blob to ``dest`` (fsynced), checking the bytes against the row's SHA-256."""
        source = self._adapters / name
        digest = hashlib.sha256()
        try:
            with open(source, "rb") as src, open(dest, "wb") as out:
                while chunk := src.read(1 << 20):
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except FileNotFoundError:
            raise StoreError(
                f"the adapter blob {source} of a stored document is missing; the store is damaged"
            ) from None
        if digest.hexdigest() != sha256:
            raise AdapterFormatError(
                f"{source} is corrupt: its SHA-256 differs from the one recorded when it was written"
            )

    # ---- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the database (idempotent); the files stay."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                self._read_adapter.cache_clear()


def _check_snapshot_target(source: Path, target: Path) -> None:
    """Refuse a snapshot target that holds anything, leaving it untouched."""
    if not target.exists():
        return
    if not target.is_dir():
        problem = "is a file"
    elif (target / STORE_FILE).exists():
        problem = "already holds a lora-memory store"
    elif any(target.iterdir()):
        problem = "is a directory that is not empty"
    else:
        return
    raise StoreError(
        f"cannot snapshot the store at {source} into {target}: it {problem}; give a new or empty directory "
        "(a snapshot never overwrites anything)"
    )


def _connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` as a lora-memory store, creating the schema in a new or empty database."""
    conn = None
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        # Read-only checks first: a foreign database must not be switched to WAL or given our tables.
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables:
            found = (
                dict(conn.execute("SELECT key, value FROM lora_memory").fetchall()) if "lora_memory" in tables else {}
            )
            if found.get("format") != STORE_FORMAT:
                raise StoreError(
                    f"{path} is an SQLite database but not a lora-memory store (tables: {sorted(tables)}); "
                    "give a new or empty directory, or one created by ParametricMemory"
                )
            if not str(found.setdefault("version", "0")).isdigit():
                raise StoreError(
                    f"{path} is a damaged lora-memory store (store version {found.get('version')!r}); "
                    "give a new or empty directory, or restore the store from a backup"
                )
            if int(found["version"]) > STORE_VERSION:
                raise StoreError(
                    f"{path} was written by a newer lora-memory (store version {found['version']}); "
                    f"this one reads version {STORE_VERSION}: upgrade lora-memory"
                )
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            conn.execute(statement)
        conn.executemany(
            "INSERT OR IGNORE INTO lora_memory VALUES (?, ?)",
            [("format", STORE_FORMAT), ("version", str(STORE_VERSION))],
        )
        conn.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        if conn is not None:
            conn.close()
        raise StoreError(
            f"{path} is not a lora-memory store (not an SQLite database, or a damaged one): {exc}; "
            "give a new or empty directory, or one created by ParametricMemory"
        ) from exc
    except BaseException:
        if conn is not None:
            conn.close()
        raise
    return conn
