"""Atomic file writes (a crash leaves the old file or the new one, never half of one) and reads
that refuse anything but a regular file (a FIFO would block a read forever, a device never end it).
"""

from __future__ import annotations

import contextlib
import os
import stat
import uuid
from pathlib import Path

_KINDS = {
    stat.S_ISDIR: "a directory",
    stat.S_ISFIFO: "a FIFO (named pipe)",
    stat.S_ISCHR: "a character device",
    stat.S_ISBLK: "a block device",
    stat.S_ISSOCK: "a socket",
}


class NotARegularFileError(OSError):
    """The path names a directory, FIFO, device or socket where a regular file was expected."""


def file_kind(mode: int) -> str:
    """What ``mode`` (``st_mode``) is, in words: "a directory", "a FIFO (named pipe)", ..."""
    return next((kind for test, kind in _KINDS.items() if test(mode)), "not a regular file")


def open_regular(path: str | os.PathLike, *, follow_symlinks: bool = True) -> int:
    """Open ``path`` for reading and return the descriptor, refusing anything but a regular file.

    The file is opened non-blocking, so a FIFO is refused at once instead of waiting for a writer;
    the type is then checked on the open descriptor (``fstat``), so the file checked is the file read.

    Raises:
        NotARegularFileError: ``path`` is a directory, FIFO, device or socket.
        OSError: it cannot be opened (missing, no permission; with ``follow_symlinks=False``, a
            symbolic link raises ELOOP).
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if not follow_symlinks:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise NotARegularFileError(f"{path} is {file_kind(mode)}, not a regular file")
    return fd


def read_regular(path: str | os.PathLike, *, follow_symlinks: bool = True) -> bytes:
    """The bytes of the regular file ``path`` (see `open_regular` for what is refused)."""
    with os.fdopen(open_regular(path, follow_symlinks=follow_symlinks), "rb") as f:
        return f.read()


def check_regular(path: str | os.PathLike) -> None:
    """Raise unless ``path`` is a readable regular file, before a library (safetensors) opens it by name."""
    os.close(open_regular(path))


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it: write, fsync, rename.

    The temporary file is named ``.<name>.<uuid>.tmp``, so a directory scan can tell the debris of
    a crash from real files (the store deletes such leftovers when it opens). The directory is
    fsynced after the rename, so the new name itself survives a power cut.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def fsync_dir(path: str | os.PathLike) -> None:
    """Make the renames inside a directory durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):  # directories cannot be opened on Windows
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
