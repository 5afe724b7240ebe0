"""The embedded persistent store: one SQLite file plus one safetensors blob per adapter.

The blobs are written by the adapter codec (`lora_memory.adapter_io`); this module keeps the rows.

Layout of a store directory::

    memory.sqlite          documents: id, text, metadata, sizes
                           segments: document id, position, text, blob name and SHA-256, embedding
    adapters/lm-<uuid>.safetensors   one per segment

A document is stored as segments (`lora_memory.segments`), each with its own adapter blob; a
write replaces all of a document's segments at once, and a delete removes them all.

The store owns exactly what its database lists, inside its own directory. Blob names are
generated here (``lm-`` + a uuid4; stores of version 1 wrote the uuid alone) and every name read
from the database is checked before it is used: a plain file name of that form, never a path, and
never followed through a symbolic link. A row that breaks the rule is reported (a `StoreError`, or
a logged warning where the row is being removed anyway), never followed. Clean-up deletes only
files of the names this module writes, and never in a database it has just created: a store is
created only in a new or empty directory (or beside foreign files the caller allows, which are
never touched), and a directory whose database is missing or empty while ``adapters/`` holds blobs
is refused, since that is a store that lost its database.

Every write puts the new blob under a fresh name (temporary file, fsync, rename) inside an SQLite
write transaction and commits the row together with the name of the blob it replaces in the
``garbage`` table; only then is the old blob deleted, and only when no reader in any process can
still want it. A crash at any point therefore leaves the old entry or the new one, never half of
one; the only debris is an unreferenced blob of ours, deleted the next time the store is opened.
The database runs in WAL mode with ``synchronous=FULL``, so a committed row is on disk before the
old blob goes.

Readers in any process see the old version of a document or the new one, never a missing blob:
a reader holds a shared ``flock`` on ``adapters/`` from reading a row until it has read the row's
blob (`Store.snapshot` holds it for the whole copy), and blobs are deleted only under the
exclusive lock, taken without waiting; while a reader holds the shared one, the deletion waits in
``garbage`` for the next write, `close` or open. (Where ``flock`` does not exist, a reader that
finds its blob gone reads the row again.) One connection serves all threads of a `Store` behind
a lock; nothing is ever pickled.

A store whose files cannot be written opens for reading (writes raise `ReadOnlyStoreError`), and
a write that waits longer than ``busy_timeout`` for another process's write lock raises
`StoreBusyError`.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import threading
import time
import unicodedata
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lora_memory.adapter import LoraAdapter, concat_adapters
from lora_memory.adapter_io import adapter_from_bytes, save_adapter, stored_nbytes
from lora_memory.backbone import BaseModelIdentity
from lora_memory.errors import (
    AdapterFormatError,
    DocumentError,
    DocumentNotFoundError,
    InvalidIdError,
    ReadOnlyStoreError,
    StoreBusyError,
    StoreError,
    check_unicode,
)
from lora_memory.files import NotARegularFileError, file_kind, fsync_dir, read_regular

try:
    import fcntl
except ImportError:  # Windows: readers fall back to re-reading a row whose blob vanished
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

STORE_FILE = "memory.sqlite"
ADAPTER_DIR = "adapters"
STORE_FORMAT = "lora-memory-store"
STORE_VERSION = 3  # 2: the garbage table, "lm-" blob names, NFC ids; 3: segments under a document id
MAX_ID_LENGTH = 200
BLOB_PREFIX = "lm-"
DEFAULT_BUSY_TIMEOUT = 30.0
# Blob names a row may hold: what this module generates (version 1 wrote the uuid without the prefix).
_BLOB_NAME = re.compile(r"(?:lm-)?[0-9a-f]{32}\.safetensors")
# Files of ours that clean-up may delete when no row names them: blobs and `write_atomic`'s temporaries.
_OWN_FILE = re.compile(r"lm-[0-9a-f]{32}\.safetensors|\.lm-[0-9a-f]{32}\.safetensors\.[0-9a-f]{32}\.tmp")
_SQLITE_FILES = tuple(STORE_FILE + suffix for suffix in ("", "-wal", "-shm", "-journal"))
_MISSING_BLOB_RETRIES = 8

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS lora_memory (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE IF NOT EXISTS documents (
        id TEXT PRIMARY KEY,             -- NFC-normalised
        text TEXT NOT NULL,              -- the whole text
        metadata TEXT NOT NULL,          -- JSON object
        tokens INTEGER NOT NULL,
        chunks INTEGER NOT NULL,         -- segments (the name versions 1-2 gave it, so they read alike)
        adapter_nbytes INTEGER NOT NULL, -- tensor bytes of all its segments' adapters as stored
        created REAL NOT NULL,
        updated REAL NOT NULL
    )""",
    """CREATE TABLE IF NOT EXISTS segments (
        document_id TEXT NOT NULL,       -- documents.id
        position INTEGER NOT NULL,       -- 0, 1, ... in document order
        text TEXT NOT NULL,
        tokens INTEGER NOT NULL,
        adapter_file TEXT NOT NULL UNIQUE,  -- fresh per write, so it doubles as a version
        adapter_sha256 TEXT NOT NULL,
        adapter_nbytes INTEGER NOT NULL, -- tensor bytes as stored, without the file header
        embedding BLOB,                  -- float32 router embedding, NULL until routing needs it
        embedding_model TEXT,            -- name of the encoder that made the embedding
        PRIMARY KEY (document_id, position)
    )""",
    # Blobs replaced or deleted, removed from adapters/ once no reader can still want them.
    "CREATE TABLE IF NOT EXISTS garbage (name TEXT PRIMARY KEY)",
)
# A document of versions 1-2 is one segment: the view a read-only connection reads them through.
_LEGACY_SEGMENTS = (
    "CREATE TEMP VIEW segments AS SELECT id AS document_id, 0 AS position, text, tokens, adapter_file, "
    "adapter_sha256, adapter_nbytes, embedding, embedding_model FROM documents"
)

SegmentKey = tuple[str, int]  # (document id, position)


# ---- ids and records ----------------------------------------------------------------------------
def validate_id(doc_id: Any) -> str:
    """``doc_id`` in Unicode normal form NFC if it is a usable document id, else raise `InvalidIdError`.

    Ids are normalised to NFC, so the composed and decomposed spellings of one id ("é" as one
    code point, or "e" plus a combining accent), which print the same, name one document.
    """
    if not isinstance(doc_id, str) or not doc_id:
        raise InvalidIdError(f"a document id must be a non-empty str, got {doc_id!r}")
    try:
        doc_id.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidIdError(
            f"invalid document id {doc_id[:60]!r}: it holds a lone surrogate {doc_id[exc.start]!r} at position "
            f"{exc.start}, which is not valid Unicode text; choose an id of valid text (decode bytes with "
            "errors='replace')"
        ) from None
    doc_id = unicodedata.normalize("NFC", doc_id)
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
    except RecursionError:
        raise DocumentError(
            "document metadata is nested too deeply to store as JSON (over ~1,000 levels): flatten it"
        ) from None
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
        segments: segments the text was stored as, each with its own adapter.
        adapter_bytes: size of its adapters' tensors as stored (at the precision they were stored in).
    """

    id: str
    text: str
    metadata: dict[str, Any]
    tokens: int
    segments: int
    adapter_bytes: int


@dataclass(frozen=True)
class StoredSegment:
    """One segment of a stored document.

    Attributes:
        document_id: the document it belongs to.
        position: its place in the document, from 0.
        text: its text.
        tokens: backbone tokens in it.
        adapter_bytes: its adapter's tensor bytes as stored.
    """

    document_id: str
    position: int
    text: str
    tokens: int
    adapter_bytes: int


@dataclass(frozen=True)
class Segment:
    """A piece of a document to store: its text, its tokens and its adapter."""

    text: str
    tokens: int
    adapter: LoraAdapter


# ---- the store ----------------------------------------------------------------------------------
class _BlobMissing(StoreError):
    """A row's blob is not on disk: another process replaced it (read the row again) or damage."""


class Store:
    """Documents and their adapters in one directory, safe to share between threads and processes.

    Args:
        directory: the store's directory; created when missing. A new store is created only in a
            new or empty directory (see ``allow_foreign_files``).
        cache_size: adapters kept in memory (least recently used are dropped).
        read_only: open for reading only; writes raise `ReadOnlyStoreError`. A store whose
            directory or database cannot be written opens this way by itself.
        busy_timeout: seconds a write waits for another process's write lock before raising
            `StoreBusyError`.
        allow_foreign_files: create a new store in a directory that already holds other files
            (they are never read, moved or deleted). Without it such a directory is refused.

    Raises:
        StoreError: ``directory`` is a file; its ``memory.sqlite`` is not a lora-memory store; the
            database is missing or empty while ``adapters/`` holds blobs (a store that lost its
            database); ``adapters/`` is a symbolic link; or the directory holds foreign files and
            no store.
        StoreBusyError: the store needs a format upgrade and another process holds its write lock.
    """

    def __init__(
        self,
        directory: str | os.PathLike,
        *,
        cache_size: int = 16,
        read_only: bool = False,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        allow_foreign_files: bool = False,
    ):
        if not busy_timeout >= 0:
            raise ValueError(f"busy_timeout must be a number of seconds >= 0, got {busy_timeout!r}")
        self.directory = Path(directory)
        self.path = self.directory / STORE_FILE
        self._adapters = self.directory / ADAPTER_DIR
        self.busy_timeout = float(busy_timeout)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        # Read-only stores keep embeddings here: segment version (blob name) -> (encoder, bytes).
        self._embedding_cache: dict[str, tuple[str, bytes]] = {}
        self._commits = 0  # this object's own commits, which SQLite's data_version does not count
        if self.directory.exists() and not self.directory.is_dir():
            raise StoreError(
                f"{self.directory} is a file, not a lora-memory store: a store is a directory holding "
                f"{STORE_FILE} and {ADAPTER_DIR}/ (give a new or existing directory)"
            )
        if read_only and not self.path.exists():
            raise StoreError(
                f"there is no lora-memory store at {self.directory} to open read-only ({STORE_FILE} is missing)"
            )
        if not read_only:
            self.directory.mkdir(parents=True, exist_ok=True)
        self._check_layout()
        new = _is_new_database(self.path)
        if new:
            self._check_new_directory(allow_foreign_files)
        if read_only:
            self.read_only, why = True, "read_only=True was passed"
        elif not _writable(self.directory, self.path, self._adapters):
            self.read_only, why = True, "its directory or database is not writable"
        else:
            self.read_only, why = False, ""
        if self.read_only and new:
            raise ReadOnlyStoreError(
                f"cannot create a lora-memory store in {self.directory}: {why}; give a writable new or empty directory"
            )
        self._read_only_reason = why
        if not self.read_only:
            try:
                self._conn = self._open_writable(new)
            except _ReadOnlyFiles as exc:  # the permission check could not see it (e.g. a read-only mount)
                if new:
                    raise ReadOnlyStoreError(f"cannot create a lora-memory store in {self.directory}: {exc}") from None
                self.read_only, self._read_only_reason = True, f"its files cannot be written ({exc})"
        if self.read_only:
            self._conn = self._open_read_only()
        # Blob names are unique per write, so a cached entry can never be stale.
        self._read_adapter = functools.lru_cache(maxsize=cache_size)(self._read_adapter_file)
        if not self.read_only and not new:
            self._collect_garbage(orphans=True)  # crash debris, and deletions deferred for readers

    # ---- opening ---------------------------------------------------------------------------
    def _check_layout(self) -> None:
        """Refuse a directory whose ``adapters/`` or ``memory.sqlite`` is something else."""
        if self._adapters.is_symlink():
            raise StoreError(
                f"{self._adapters} is a symbolic link (to {os.readlink(self._adapters)}); a store keeps its "
                f"blobs in its own directory and never follows links: replace the link with the folder it "
                "points to, or give a new or empty directory"
            )
        if self._adapters.exists() and not self._adapters.is_dir():
            raise StoreError(
                f"{self._adapters} is not a directory, so {self.directory} is not a lora-memory store; "
                "give a new or empty directory, or one created by ParametricMemory"
            )
        if self.path.exists() and not self.path.is_file():
            raise StoreError(
                f"{self.path} is {file_kind(self.path.stat().st_mode)}, not a database, so {self.directory} is "
                "not a lora-memory store; give a new or empty directory, or one created by ParametricMemory"
            )

    def _check_new_directory(self, allow_foreign_files: bool) -> None:
        """Before creating a database: refuse a store that lost its database, and (unless allowed) foreign files."""
        blobs = sorted(p.name for p in self._adapters.iterdir()) if self._adapters.is_dir() else []
        ours = [name for name in blobs if _BLOB_NAME.fullmatch(name) or _OWN_FILE.fullmatch(name)]
        wal = self.directory / (STORE_FILE + "-wal")
        if ours or (wal.is_file() and wal.stat().st_size > 0):
            state = "missing" if not self.path.exists() else "empty (0 bytes)"
            raise StoreError(
                f"{self.path} is {state} but {self.directory} holds the files of a lora-memory store "
                f"({len(ours)} adapter blob(s) in {ADAPTER_DIR}/{', a write-ahead log' if wal.exists() else ''}): "
                f"its database was lost or moved. Restore {STORE_FILE} from a backup (or the copy made by "
                "ParametricMemory.save); nothing was changed. To start afresh, give a new or empty directory"
            )
        foreign = [p.name for p in self.directory.iterdir() if p.name not in (*_SQLITE_FILES, ADAPTER_DIR)]
        foreign += [f"{ADAPTER_DIR}/{name}" for name in blobs]
        if foreign and not allow_foreign_files:
            shown = ", ".join(sorted(foreign)[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
            raise StoreError(
                f"{self.directory} is not empty and holds no lora-memory store ({shown}); a new store is created "
                "only in a new or empty directory: give one, or pass allow_foreign_files=True to create the "
                "store beside these files (it never reads, moves or deletes them)"
            )

    def _open_writable(self, new: bool) -> sqlite3.Connection:
        """Connect, check the format, and create or upgrade the schema where needed."""
        if new:
            self._adapters.mkdir(exist_ok=True)
        conn = None
        try:
            conn = sqlite3.connect(
                self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
            )
            # Read-only checks first: a foreign database must not be switched to WAL or given our tables.
            version = _check_format(conn, self.path)
            if version is not None and version == STORE_VERSION and _journal_mode(conn) == "wal":
                conn.execute("PRAGMA synchronous = FULL")
                self._adapters.mkdir(exist_ok=True)
                return conn
            if _journal_mode(conn) != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = _check_format(conn, self.path)  # again, under the write lock: another process may have won
                _upgrade(conn, self.path, STORE_VERSION if version is None else version)  # a new store: the schema
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            self._adapters.mkdir(exist_ok=True)
            return conn
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            name = getattr(exc, "sqlite_errorname", "")
            if name.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")):
                raise _ReadOnlyFiles(str(exc)) from exc
            raise self._sqlite_error(exc, opening=True) from exc
        except PermissionError as exc:
            if conn is not None:
                conn.close()
            raise _ReadOnlyFiles(str(exc)) from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise

    def _open_read_only(self) -> sqlite3.Connection:
        """Connect without writing anything: ``mode=ro``, or where even the WAL index cannot be
        created (a read-only directory, after a clean close), ``immutable=1``."""
        uri = "file:" + urllib.parse.quote(str(self.path.resolve()))
        conn = None
        try:
            try:
                conn = sqlite3.connect(
                    uri + "?mode=ro", uri=True, timeout=self.busy_timeout, isolation_level=None, check_same_thread=False
                )
                version = _check_format(conn, self.path)
            except sqlite3.OperationalError as exc:
                if not getattr(exc, "sqlite_errorname", "").startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")):
                    raise
                if conn is not None:
                    conn.close()
                wal = self.directory / (STORE_FILE + "-wal")
                if wal.exists() and wal.stat().st_size > 0:
                    raise StoreError(
                        f"{self.directory} cannot be read: its last writer did not finish ({wal.name} holds "
                        "committed writes), and the directory is read-only so SQLite cannot replay them; open it "
                        "once with write access"
                    ) from exc
                # Nothing can write here, so the database is as good as immutable.
                conn = sqlite3.connect(
                    uri + "?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False
                )
                version = _check_format(conn, self.path)
            if version is None:
                raise StoreError(f"{self.path} is an empty database, not a lora-memory store; give a store to read")
            if version < 3:  # read as it is: an upgrade would write
                conn.execute(_LEGACY_SEGMENTS)
            return conn
        except sqlite3.Error as exc:
            if conn is not None:
                conn.close()
            raise self._sqlite_error(exc, opening=True) from exc
        except BaseException:
            if conn is not None:
                conn.close()
            raise

    # ---- plumbing --------------------------------------------------------------------------
    def _live(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"the store at {self.directory} is closed")
        return self._conn

    def _sqlite_error(self, exc: sqlite3.Error, opening: bool = False) -> StoreError:
        """The named error for an SQLite failure: busy, read-only, or a damaged database."""
        name = getattr(exc, "sqlite_errorname", "")
        if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or "locked" in str(exc):
            return StoreBusyError(
                f"the store at {self.directory} is busy: another process has held its write lock for over "
                f"{self.busy_timeout:g} s (busy_timeout). Try again when it has finished, or open the store with "
                "a longer busy_timeout"
            )
        if name.startswith("SQLITE_FULL"):
            return StoreError(f"the store at {self.directory} cannot grow: {exc}; free disk space and try again")
        if name.startswith("SQLITE_READONLY"):
            return ReadOnlyStoreError(
                f"the store at {self.directory} cannot be written ({exc}): its files are read-only; open it with "
                "read_only=True to read it, or give this process write access"
            )
        if opening:
            return StoreError(
                f"{self.path} is not a lora-memory store (not an SQLite database, or a damaged one): {exc}; "
                "give a new or empty directory, or one created by ParametricMemory"
            )
        return StoreError(
            f"the database of the store at {self.directory} failed: {exc}; the store may be damaged: restore it "
            "from a backup (ParametricMemory.save makes one)"
        )

    def check_writable(self) -> None:
        """Raise `ReadOnlyStoreError` if the store is open for reading only."""
        if self.read_only:
            raise ReadOnlyStoreError(
                f"the store at {self.directory} is open read-only ({self._read_only_reason}): reading works; to "
                "add, update or delete documents, open it with write access"
            )

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """An immediate (write-locked) transaction on the open connection, under the thread lock."""
        self.check_writable()
        with self._lock:
            conn = self._live()
            try:
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._sqlite_error(exc) from exc
            try:
                yield conn
                conn.execute("COMMIT")
                self._commits += 1
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._sqlite_error(exc) from exc
                raise

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple]:
        with self._lock:
            try:
                return self._live().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._sqlite_error(exc) from exc

    def _not_found(self, doc_id: str, position: int | None = None) -> DocumentNotFoundError:
        if position is not None and self._query("SELECT 1 FROM documents WHERE id = ?", (doc_id,)):
            return DocumentNotFoundError(
                f"document {doc_id!r} in the store at {self.directory} has no segment {position}; segments() lists them"
            )
        return DocumentNotFoundError(
            f"no document with id {doc_id!r} in the store at {self.directory}; ids() lists the stored documents"
        )

    @contextlib.contextmanager
    def _readers_lock(self, exclusive: bool = False) -> Iterator[bool]:
        """Hold ``flock`` on ``adapters/``: shared while reading rows and their blobs, exclusive (never
        waited for: yields False when readers hold it) while deleting blobs. A fresh descriptor per
        holder, so threads and `Store` objects of one process exclude each other like processes do."""
        if fcntl is None:
            yield True
            return
        try:
            fd = os.open(self._adapters, os.O_RDONLY)
        except OSError:  # no adapters/ (a read-only store that never had one): nothing to protect
            yield True
            return
        try:
            if exclusive:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    yield False
                    return
            else:
                fcntl.flock(fd, fcntl.LOCK_SH)
            yield True
        finally:
            os.close(fd)  # releases the lock

    def _blob_path(self, name: Any, doc_id: str | None = None) -> Path:
        """The path of a blob named by a row, after checking that the name is one this store writes."""
        if not isinstance(name, str) or not _BLOB_NAME.fullmatch(name):
            whose = f"document {doc_id!r}" if doc_id is not None else "a document"
            raise StoreError(
                f"the row of {whose} in {self.path} names the adapter blob {str(name)[:200]!r}, which is not a "
                "blob name this store writes (a plain file name in adapters/); the store is damaged or was edited "
                "by hand, and the name is not followed. Delete the document and add it again, or restore the store "
                "from a backup"
            )
        return self._adapters / name

    def _collect_garbage(self, *, orphans: bool = False) -> None:
        """Delete replaced blobs (and, with ``orphans``, unreferenced files of ours left by a crash) once
        no reader can want them; skipped, and retried at the next write, close or open, while one might.

        Runs under the write lock (so no writer has a blob without its row) and the exclusive readers'
        lock, neither waited for. Never raises: a failure only leaves the files for a later attempt.
        """
        if self.read_only:
            return
        with self._lock:
            conn = self._conn
            if conn is None:
                return
            try:
                conn.execute("PRAGMA busy_timeout = 0")
                try:
                    conn.execute("BEGIN IMMEDIATE")
                finally:
                    conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            except sqlite3.Error:
                return  # another writer is busy; its own clean-up will find these
            try:
                garbage = [name for (name,) in conn.execute("SELECT name FROM garbage")]
                if not garbage and not orphans:
                    conn.execute("ROLLBACK")
                    return
                with self._readers_lock(exclusive=True) as free:
                    if not free:
                        conn.execute("ROLLBACK")
                        return
                    removed = []
                    for name in garbage:
                        if not isinstance(name, str) or not _BLOB_NAME.fullmatch(name):
                            log.warning("store %s: not deleting %r: not a blob name", self.directory, name)
                        elif not conn.execute("SELECT 1 FROM segments WHERE adapter_file = ?", (name,)).fetchone():
                            (self._adapters / name).unlink(missing_ok=True)
                        removed.append(name)
                    if orphans:
                        referenced = {n for (n,) in conn.execute("SELECT adapter_file FROM segments")}
                        for entry in os.scandir(self._adapters):
                            if _OWN_FILE.fullmatch(entry.name) and entry.name not in referenced:
                                os.unlink(entry.path)
                conn.executemany("DELETE FROM garbage WHERE name = ?", [(n,) for n in removed])
                conn.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                log.warning("store %s: deleting replaced blobs failed (retried later): %s", self.directory, exc)

    # ---- writes ----------------------------------------------------------------------------
    def put(
        self,
        doc_id: str,
        text: str,
        adapter: LoraAdapter,
        *,
        identity: BaseModelIdentity,
        tokens: int,
        metadata: Mapping[str, Any] | None = None,
        must_exist: bool = False,
        precision: str = "fp32",
    ) -> None:
        """`put_segments` for a document stored as one segment: its whole text and one adapter."""
        self.put_segments(
            doc_id, text, [Segment(text, tokens, adapter)], identity=identity, tokens=tokens, metadata=metadata,
            must_exist=must_exist, precision=precision,
        )

    def put_segments(
        self,
        doc_id: str,
        text: str,
        segments: Sequence[Segment],
        *,
        identity: BaseModelIdentity,
        tokens: int,
        metadata: Mapping[str, Any] | None = None,
        must_exist: bool = False,
        precision: str = "fp32",
    ) -> None:
        """Insert or replace a document and all its segments' adapters, atomically.

        Every blob is written under a fresh name before the one transaction that commits the rows,
        so readers see all of the old segments or all of the new ones.

        Args:
            text: the whole text, which `get` returns.
            segments: the document's segments in order (at least one).
            identity: the backbone the adapters were made for; the first write binds the store to it.
            tokens: backbone tokens in the whole text.
            metadata: JSON metadata; None keeps a replaced document's metadata (``{}`` when new).
            must_exist: raise `DocumentNotFoundError` instead of inserting a new document.
            precision: how the adapters' tensors are stored (see `adapter_to_bytes`).

        Raises:
            ReadOnlyStoreError: the store is open for reading only.
            StoreBusyError: another process held the write lock for over ``busy_timeout``.
        """
        self.check_writable()
        doc_id = validate_id(doc_id)
        if not segments:
            raise DocumentError(f"document {doc_id!r} has no segments to store")
        check_unicode(text, "document", DocumentError)
        for segment in segments:
            check_unicode(segment.text, "document segment", DocumentError)
        meta = None if metadata is None else json.dumps(check_metadata(metadata))
        sizes = [stored_nbytes(segment.adapter, precision) for segment in segments]
        blobs = [self._adapters / f"{BLOB_PREFIX}{uuid.uuid4().hex}.safetensors" for _ in segments]
        try:
            with self._transaction() as conn:
                self._bind(conn, identity)
                old = conn.execute("SELECT adapter_file FROM segments WHERE document_id = ?", (doc_id,)).fetchall()
                exists = conn.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is not None
                if not exists and must_exist:
                    raise self._not_found(doc_id)
                rows = []
                for position, (segment, blob, nbytes) in enumerate(zip(segments, blobs, sizes, strict=True)):
                    try:
                        sha = save_adapter(blob, segment.adapter, identity, precision)
                    except OSError as exc:  # disk full, quota, permissions: nothing was committed
                        raise StoreError(
                            f"cannot write the adapters of document {doc_id!r} into {self._adapters}: {exc}; the "
                            "store is unchanged"
                        ) from exc
                    rows.append((doc_id, position, segment.text, segment.tokens, blob.name, sha, nbytes))
                self._write_rows(conn, doc_id, text, meta, tokens, sum(sizes), rows, exists)
                conn.executemany("INSERT OR IGNORE INTO garbage VALUES (?)", old)
        except BaseException:
            for blob in blobs:
                blob.unlink(missing_ok=True)
            raise
        if old:
            self._collect_garbage()

    @staticmethod
    def _write_rows(
        conn: sqlite3.Connection,
        doc_id: str,
        text: str,
        meta: str | None,
        tokens: int,
        nbytes: int,
        segments: Sequence[tuple],
        exists: bool,
    ) -> None:
        now = time.time()
        if not exists:
            conn.execute(
                "INSERT INTO documents (id, text, metadata, tokens, chunks, adapter_nbytes, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (doc_id, text, meta or "{}", tokens, len(segments), nbytes, now, now),
            )
        else:
            conn.execute(
                "UPDATE documents SET text = ?, metadata = COALESCE(?, metadata), tokens = ?, chunks = ?, "
                "adapter_nbytes = ?, updated = ? WHERE id = ?",
                (text, meta, tokens, len(segments), nbytes, now, doc_id),
            )
            conn.execute("DELETE FROM segments WHERE document_id = ?", (doc_id,))
        conn.executemany(
            "INSERT INTO segments (document_id, position, text, tokens, adapter_file, adapter_sha256, adapter_nbytes) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            segments,
        )

    def delete(self, doc_id: str) -> None:
        """Remove a document and all its segments' adapter blobs; raises `DocumentNotFoundError` when absent."""
        doc_id = validate_id(doc_id)
        with self._transaction() as conn:
            if conn.execute("SELECT 1 FROM documents WHERE id = ?", (doc_id,)).fetchone() is None:
                raise self._not_found(doc_id)
            old = conn.execute("SELECT adapter_file FROM segments WHERE document_id = ?", (doc_id,)).fetchall()
            conn.execute("DELETE FROM segments WHERE document_id = ?", (doc_id,))
            conn.execute("DELETE FROM documents WHERE id = ?", (doc_id,))
            conn.executemany("INSERT OR IGNORE INTO garbage VALUES (?)", old)
        self._collect_garbage()

    # ---- base model ------------------------------------------------------------------------
    def _bind(self, conn: sqlite3.Connection, identity: BaseModelIdentity) -> None:
        """Bind an unbound store to ``identity``; a bound one must agree with it."""
        self.check_base_model(identity)
        conn.execute("INSERT OR IGNORE INTO lora_memory VALUES ('base_model', ?)", (json.dumps(identity.to_dict()),))

    def check_base_model(self, identity: BaseModelIdentity) -> None:
        """Raise `BaseModelMismatchError` if the store's adapters were made for another model."""
        rows = self._query("SELECT value FROM lora_memory WHERE key = 'base_model'")
        if rows:
            try:
                made_for = BaseModelIdentity.from_dict(json.loads(rows[0][0]))
            except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as exc:
                raise StoreError(
                    f"{self.path}: the recorded base model is damaged ({exc!r}); restore the store from a backup"
                ) from exc
            identity.check(made_for, f"memory store {self.directory}")

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
        try:
            metadata = json.loads(meta)
            if not isinstance(metadata, dict):
                raise ValueError(f"a JSON {type(metadata).__name__}, not an object")
        except (TypeError, ValueError, RecursionError) as exc:
            raise StoreError(
                f"the metadata of document {doc_id!r} in {self.path} is not a JSON object ({exc}); the store is "
                "damaged or was edited by hand: update the document with new metadata, or restore a backup"
            ) from None
        return StoredDocument(doc_id, text, metadata, tokens, chunks, nbytes)

    def adapter(self, doc_id: str, position: int | None = None) -> LoraAdapter:
        """A segment's adapter (``position``), or with None all of the document's concatenated
        along rank; read from the cache or the blobs (checked against their SHA-256).

        Another process may replace the document meanwhile; the adapters returned are then all of
        the old version or all of the new one, never an error.

        Raises:
            DocumentNotFoundError: no such document, or no segment at ``position``.
        """
        doc_id = validate_id(doc_id)
        where, params = ("", (doc_id,)) if position is None else (" AND position = ?", (doc_id, int(position)))
        seen = None
        for _ in range(_MISSING_BLOB_RETRIES):
            with self._readers_lock():  # no blob can be deleted from reading the rows to reading the blobs
                rows = self._query(
                    f"SELECT adapter_file, adapter_sha256 FROM segments WHERE document_id = ?{where} ORDER BY position",
                    params,
                )
                if not rows:
                    raise self._not_found(doc_id, position)
                try:
                    adapters = [self._read_adapter(name, sha, doc_id) for name, sha in rows]
                except _BlobMissing as exc:
                    if rows == seen:  # the rows did not move on: the blob is really gone
                        raise StoreError(str(exc)) from None
                    seen = rows
                    continue
            if len(adapters) == 1:
                return adapters[0]
            return concat_adapters(adapters, metadata={**adapters[0].metadata, "segments": len(adapters)})
        raise StoreError(
            f"document {doc_id!r} in {self.directory} was replaced {_MISSING_BLOB_RETRIES} times while being read; "
            "try again"
        )

    def _read_adapter_file(self, name: str, sha256: str, doc_id: str | None = None) -> LoraAdapter:
        data = self._read_blob(name, doc_id)
        path = self._adapters / name
        if hashlib.sha256(data).hexdigest() != sha256:
            raise AdapterFormatError(
                f"{path} is corrupt: its SHA-256 differs from the one recorded when it was written"
            )
        return adapter_from_bytes(data, path)

    def _read_blob(self, name: str, doc_id: str | None) -> bytes:
        """A blob's bytes: only a validated name, only a regular file, never through a link."""
        path = self._blob_path(name, doc_id)
        try:
            return read_regular(path, follow_symlinks=False)
        except FileNotFoundError:
            raise _BlobMissing(
                f"the adapter blob {path} of a stored document is missing; the store is damaged"
            ) from None
        except NotARegularFileError as exc:
            raise StoreError(f"the adapter blob of a stored document is damaged: {exc}; it is not read") from None
        except OSError as exc:
            if path.is_symlink():
                raise StoreError(
                    f"the adapter blob {path} is a symbolic link; a store never follows links out of its "
                    "directory: the store was edited by hand, restore it from a backup"
                ) from None
            raise StoreError(f"cannot read the adapter blob {path}: {exc}") from exc

    def ids(self) -> list[str]:
        """Document ids in the order they were first added."""
        return [doc_id for (doc_id,) in self._query("SELECT id FROM documents ORDER BY created, rowid")]

    def __len__(self) -> int:
        return self._query("SELECT COUNT(*) FROM documents")[0][0]

    def __contains__(self, doc_id: object) -> bool:
        try:
            doc_id = validate_id(doc_id)
        except InvalidIdError:
            return False
        return bool(self._query("SELECT 1 FROM documents WHERE id = ?", (doc_id,)))

    def segment_count(self) -> int:
        """Segments over all documents."""
        return self._query("SELECT COUNT(*) FROM segments")[0][0]

    def segment_keys(self) -> list[SegmentKey]:
        """``(document id, position)`` of every segment, in the order they were written."""
        return [(doc_id, position) for doc_id, position in self._query(
            "SELECT document_id, position FROM segments ORDER BY rowid")]

    def generation(self) -> tuple[int, int]:
        """A value that changes whenever the store may have changed (a commit here or in any other
        connection or process): what an in-memory index of the store checks before it is reused."""
        return self._query("PRAGMA data_version")[0][0], self._commits

    def segments(self, doc_id: str) -> list[StoredSegment]:
        """A document's segments in order; raises `DocumentNotFoundError` when absent."""
        doc_id = validate_id(doc_id)
        rows = self._query(
            "SELECT position, text, tokens, adapter_nbytes FROM segments WHERE document_id = ? ORDER BY position",
            (doc_id,),
        )
        if not rows:
            raise self._not_found(doc_id)
        return [StoredSegment(doc_id, *row) for row in rows]

    def short_texts(self, keys: Sequence[SegmentKey], max_tokens: int) -> dict[SegmentKey, str | None]:
        """Each stored segment's text, or None where it is over ``max_tokens`` (long texts are not read).

        Segments not in the store are left out, so a caller racing a delete sees them gone.
        """
        found: dict[SegmentKey, str | None] = {}
        for doc_id in sorted({doc_id for doc_id, _ in keys}):
            rows = self._query(
                "SELECT position, CASE WHEN tokens <= ? THEN text END FROM segments WHERE document_id = ?",
                (max_tokens, doc_id),
            )
            found.update({(doc_id, position): text for position, text in rows})
        return {key: found[key] for key in keys if key in found}

    def totals(self) -> tuple[int, int, int]:
        """``(documents, tokens, adapter_bytes)`` over the whole store, from one consistent read."""
        n, tokens, nbytes = self._query(
            "SELECT COUNT(*), COALESCE(SUM(tokens), 0), COALESCE(SUM(adapter_nbytes), 0) FROM documents"
        )[0]
        return n, tokens, nbytes

    # ---- router embeddings -----------------------------------------------------------------
    def pending_embeddings(self, model: str, dim: int | None = None) -> list[tuple[SegmentKey, str, str]]:
        """``(segment key, version, text)`` of segments with no usable embedding by encoder ``model`` yet.

        With ``dim``, an embedding of another length (a hand-edited or damaged row) is pending too,
        so it is computed again rather than breaking every question.
        """
        length = "" if dim is None else " OR length(embedding) != ?"
        rows = self._query(
            "SELECT document_id, position, adapter_file, text FROM segments "
            f"WHERE embedding IS NULL OR embedding_model IS NOT ?{length} ORDER BY rowid",
            (model,) if dim is None else (model, 4 * dim),
        )
        if self._embedding_cache:
            rows = [r for r in rows if self._embedding_cache.get(r[2], ("",))[0] != model]
        return [((doc_id, position), version, text) for doc_id, position, version, text in rows]

    def save_embeddings(self, model: str, rows: Sequence[tuple[SegmentKey, str, Tensor]]) -> None:
        """Record ``(segment key, version, vector)`` embeddings; a segment rewritten meanwhile is skipped.

        A read-only store keeps them in memory, for this object's lifetime.
        """
        encoded = [(vector.float().cpu().numpy().tobytes(), model, version) for _, version, vector in rows]
        if self.read_only:
            self._embedding_cache.update({version: (model, blob) for blob, model, version in encoded})
            return
        with self._transaction() as conn:
            conn.executemany("UPDATE segments SET embedding = ?, embedding_model = ? WHERE adapter_file = ?", encoded)

    def embeddings(self, model: str, dim: int | None = None) -> tuple[list[SegmentKey], Tensor]:
        """Keys and ``(n, dim)`` embeddings of the segments embedded by encoder ``model``.

        Embeddings that cannot be one (a length that is not ``dim`` floats, or without ``dim``, not
        the length of the first) are left out.
        """
        rows = self._query(
            "SELECT document_id, position, adapter_file, embedding_model, embedding FROM segments ORDER BY rowid"
            if self._embedding_cache
            else "SELECT document_id, position, adapter_file, embedding_model, embedding FROM segments "
            "WHERE embedding_model = ? AND embedding IS NOT NULL ORDER BY rowid",
            () if self._embedding_cache else (model,),
        )
        keys, vectors = [], []
        for doc_id, position, version, made_by, blob in rows:
            if made_by != model or blob is None:
                made_by, blob = self._embedding_cache.get(version, (None, None))
                if made_by != model:
                    continue
            if not isinstance(blob, bytes) or not blob or len(blob) % 4:
                continue
            size = len(blob) // 4
            if dim is None:
                dim = size
            if size == dim:
                keys.append((doc_id, position))
                vectors.append(torch.frombuffer(bytearray(blob), dtype=torch.float32))
        return keys, torch.stack(vectors) if vectors else torch.empty(0, 0)

    # ---- snapshots -------------------------------------------------------------------------
    def snapshot(self, target_dir: str | os.PathLike) -> Path:
        """Write a consistent copy of the store to ``target_dir``, a new or empty directory.

        Copying the directory by hand can catch a write half done: a row without its blob, or a
        database page from before a commit and one from after. Here the database is copied with
        SQLite's backup API and then exactly the blobs its rows reference, under the store's lock
        (writers in this object wait) and the shared readers' lock (no process deletes a blob
        meanwhile; writers elsewhere go on, their new versions simply not in the copy).
        Everything goes to a temporary directory beside the target, renamed into place at the end:
        a failure leaves no half-written store.

        Returns:
            The target directory, which opens as a `Store` with the same documents and adapters.

        Raises:
            StoreError: the target already holds a store (or anything else), an adapter blob is
                missing, a row names something that is not a blob of this store, or the store is closed.
            AdapterFormatError: an adapter blob no longer matches its recorded SHA-256 (the message
                names it); the source store is damaged, and nothing is written.
        """
        target = Path(target_dir)
        _check_snapshot_target(self.directory, target)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(os.path.abspath(target)).with_name(f".{target.name or 'snapshot'}.{uuid.uuid4().hex}.snapshot")
        try:
            (tmp / ADAPTER_DIR).mkdir(parents=True)
            with self._lock, self._readers_lock():
                conn = self._live()
                copy = sqlite3.connect(tmp / STORE_FILE, isolation_level=None)
                try:
                    try:
                        conn.backup(copy)
                    except sqlite3.Error as exc:
                        raise self._sqlite_error(exc) from exc
                    copy.execute("BEGIN IMMEDIATE")
                    _upgrade(copy, target, _check_format(copy, target) or STORE_VERSION)  # a read-only old store
                    copy.execute("DELETE FROM garbage")  # the source's pending deletions name nothing in the copy
                    copy.execute("COMMIT")
                    # The blobs to copy are read from the copy, so they are exactly the ones its rows name.
                    rows = copy.execute("SELECT document_id, adapter_file, adapter_sha256 FROM segments").fetchall()
                finally:
                    copy.close()
                for doc_id, name, sha256 in rows:
                    self._copy_blob(doc_id, name, sha256, tmp / ADAPTER_DIR)
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

    def _copy_blob(self, doc_id: str, name: str, sha256: str, dest_dir: Path) -> None:
        """Copy one adapter blob into ``dest_dir`` (fsynced), checking the bytes against the row's SHA-256."""
        data = self._read_blob(name, doc_id)  # a validated name, a regular file, no link followed
        if hashlib.sha256(data).hexdigest() != sha256:
            raise AdapterFormatError(
                f"{self._adapters / name} is corrupt: its SHA-256 differs from the one recorded when it was written"
            )
        with open(dest_dir / name, "xb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())

    # ---- lifetime --------------------------------------------------------------------------
    def close(self) -> None:
        """Close the database (idempotent); the files stay. Blob deletions still deferred are tried once more."""
        with self._lock:
            if self._conn is not None:
                self._collect_garbage()
                self._conn.close()
                self._conn = None
                self._read_adapter.cache_clear()


class _ReadOnlyFiles(Exception):
    """Raised while opening for writing when the files turn out to be read-only."""


def _is_new_database(path: Path) -> bool:
    """A missing or 0-byte database file: opening it creates a store."""
    try:
        return path.stat().st_size == 0
    except FileNotFoundError:
        return True


def _writable(*paths: Path) -> bool:
    return all(os.access(p, os.W_OK) for p in paths if p.exists())


def _journal_mode(conn: sqlite3.Connection) -> str:
    return str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower()


def _check_format(conn: sqlite3.Connection, path: Path) -> int | None:
    """The store version of an opened database, None when it is empty; a foreign one raises `StoreError`."""
    tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if not tables:
        return None
    found = dict(conn.execute("SELECT key, value FROM lora_memory").fetchall()) if "lora_memory" in tables else {}
    if found.get("format") != STORE_FORMAT:
        raise StoreError(
            f"{path} is an SQLite database but not a lora-memory store (tables: {sorted(tables)}); "
            "give a new or empty directory, or one created by ParametricMemory"
        )
    version = str(found.get("version", "0"))
    if not version.isdigit():
        raise StoreError(
            f"{path} is a damaged lora-memory store (store version {found.get('version')!r}); "
            "give a new or empty directory, or restore the store from a backup"
        )
    if int(version) > STORE_VERSION:
        raise StoreError(
            f"{path} was written by a newer lora-memory (store version {version}); "
            f"this one reads version {STORE_VERSION}: upgrade lora-memory"
        )
    return int(version)


def _upgrade(conn: sqlite3.Connection, path: Path, version: int) -> None:
    """Bring a store of ``version`` to `STORE_VERSION`, inside the caller's write transaction."""
    for statement in _SCHEMA:
        conn.execute(statement)
    if version < 2:
        _normalise_ids(conn, path)
    if version < 3:
        _segment_documents(conn)
    conn.executemany(
        "INSERT OR REPLACE INTO lora_memory VALUES (?, ?)", [("format", STORE_FORMAT), ("version", str(STORE_VERSION))]
    )


def _normalise_ids(conn: sqlite3.Connection, path: Path) -> None:
    """Version 1 -> 2: ids to NFC, as `validate_id` now gives them (a clash keeps the old spelling)."""
    for (doc_id,) in conn.execute("SELECT id FROM documents").fetchall():
        if not isinstance(doc_id, str):
            continue
        nfc = unicodedata.normalize("NFC", doc_id)
        if nfc == doc_id:
            continue
        if conn.execute("SELECT 1 FROM documents WHERE id = ?", (nfc,)).fetchone():
            log.warning("%s: document id %r kept as it is: its NFC form %r is another document", path, doc_id, nfc)
        else:
            conn.execute("UPDATE documents SET id = ? WHERE id = ?", (nfc, doc_id))


def _segment_documents(conn: sqlite3.Connection) -> None:
    """Version 2 -> 3: each document becomes one segment holding its adapter and embedding, and
    the documents table loses the adapter columns (rebuilt, as SQLite cannot drop a UNIQUE column)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(documents)")}
    if "adapter_file" not in columns:
        return
    conn.execute(
        "INSERT INTO segments (document_id, position, text, tokens, adapter_file, adapter_sha256, adapter_nbytes, "
        "embedding, embedding_model) SELECT id, 0, text, tokens, adapter_file, adapter_sha256, adapter_nbytes, "
        "embedding, embedding_model FROM documents ORDER BY rowid"
    )
    conn.execute("ALTER TABLE documents RENAME TO documents_v2")
    conn.execute(_SCHEMA[1])
    conn.execute(
        "INSERT INTO documents (rowid, id, text, metadata, tokens, chunks, adapter_nbytes, created, updated) "
        "SELECT rowid, id, text, metadata, tokens, 1, adapter_nbytes, created, updated FROM documents_v2"
    )
    conn.execute("DROP TABLE documents_v2")


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
