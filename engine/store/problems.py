"""What can be wrong with a run store's folder or file, said so that the user knows what to do.

A runs dir that cannot be made (a file in its path, no permission), a disk that is full, a
store on a read-only disk, a damaged file: each gets one message naming the path and the fix.
The engine and the ``seal-tui`` commands print them; the console shows them. No I/O beyond
looking at the paths and the disk.
"""

from __future__ import annotations

import errno
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from urllib.parse import quote

from .schema import SCHEMA_VERSION, stored_version

FULL_ERRNOS = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))
READ_ONLY_ERRNOS = (errno.EROFS, errno.EACCES, errno.EPERM)
FULL_BELOW_BYTES = 8 << 20  # less free than this and a run cannot go on (a paused run gives back its 1 MB reserve)


def is_disk_full(exc: BaseException) -> bool:
    """SQLite's "database or disk is full", or a write that ran out of space (ENOSPC, a quota)."""
    if isinstance(exc, sqlite3.OperationalError):
        return "disk is full" in str(exc) or getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    if isinstance(exc, OSError):
        return exc.errno in FULL_ERRNOS
    # a library's own error around the OS's (safetensors: "IoError(Os { code: 28, kind: StorageFull ..."))
    text = str(exc)
    return "No space left on device" in text or "StorageFull" in text or "Disk quota exceeded" in text


def is_damaged(exc: BaseException) -> bool:
    """SQLite found a damaged page ("database disk image is malformed")."""
    return isinstance(exc, sqlite3.DatabaseError) and (
        "malformed" in str(exc) or getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_CORRUPT)


def cannot_write(exc: BaseException) -> bool:
    """An error that says the store's file or folder cannot be written here (while it may be read)."""
    if isinstance(exc, sqlite3.OperationalError):
        text = str(exc)
        return any(s in text for s in ("readonly", "read-only", "unable to open database file", "disk I/O error",
                                       "disk is full"))
    return isinstance(exc, OSError) and (exc.errno in READ_ONLY_ERRNOS or exc.errno in FULL_ERRNOS)


def free_bytes(path: Path) -> int | None:
    """Free space on the disk holding ``path`` (its nearest existing folder)."""
    for folder in (path, *path.parents):
        if folder.is_dir():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                return None
    return None


def human_bytes(n: int | None) -> str:
    if n is None:
        return "unknown"
    for unit in ("bytes", "KB", "MB", "GB", "TB"):
        if n < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} bytes"  # not reached


def disk_full_message(runs_dir: Path) -> str:
    return (f"the disk holding {runs_dir} is full ({human_bytes(free_bytes(runs_dir))} free): free space there "
            "(each run's policy/ folder holds whole saved models; `seal-tui ls` lists the runs you may delete), "
            "then `seal-tui resume RUN` continues a run that stopped")


def runs_dir_problem(runs_dir: Path) -> str | None:
    """Why ``runs_dir`` cannot be a runs dir (a file where a folder belongs), without creating anything."""
    runs_dir = Path(runs_dir)
    for folder in (runs_dir, *runs_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                return (f"runs dir {runs_dir} cannot be used: {folder} is a file, not a folder; "
                        "pass --runs-dir (or SEAL_RUNS_DIR) a folder")
            return None
    return None


def mkdir_problem(runs_dir: Path, exc: OSError) -> str:
    """The message for a runs dir that ``mkdir`` refused."""
    found = runs_dir_problem(runs_dir)
    if found:
        return found
    if is_disk_full(exc):
        return disk_full_message(runs_dir)
    return (f"runs dir {runs_dir} cannot be created ({exc.strerror or exc}); pass --runs-dir (or SEAL_RUNS_DIR) "
            "a folder you can write to")


def writable_problem(runs_dir: Path) -> str | None:
    """Why a run cannot write into ``runs_dir`` (which exists), found by writing a scratch file there."""
    try:
        fd, scratch = tempfile.mkstemp(prefix=".write-check-", dir=runs_dir)
    except OSError as exc:
        if is_disk_full(exc):
            return disk_full_message(runs_dir)
        return (f"runs dir {runs_dir} is not writable ({exc.strerror or exc}): a run needs to write its events and "
                "files there; pass --runs-dir (or SEAL_RUNS_DIR) a folder you can write to")
    os.close(fd)
    os.unlink(scratch)
    return None


def store_problem(path: Path, exc: BaseException) -> str:
    """The message for a store file that SQLite refused (``path``: the seal.db file)."""
    path = Path(path)
    if is_disk_full(exc):
        return disk_full_message(path.parent)
    newer = _newer_schema(path)
    if newer:
        return (f"{path} was changed by a newer seal-tui (schema version {newer}, this one understands "
                f"{SCHEMA_VERSION}): upgrade seal-tui to use it ({exc})")
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and ("readonly" in text or "read-only" in text):
        return (f"{path} is read-only here ({text}): its runs can be listed, shown, exported and replayed, "
                "not changed; copy the folder somewhere writable to change them")
    if is_damaged(exc):
        return (f"{path} is damaged ({text}): `seal-tui doctor` checks it and says which runs can still be read; "
                "`seal-tui doctor --repair` copies those into a new store")
    return f"{path} is not a usable run store ({text}); move it away or pass another --runs-dir"


def _newer_schema(path: Path) -> int | None:
    """The store's schema version where a newer seal-tui wrote it (its tables may differ from ours)."""
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=1.0)
        try:
            found = stored_version(conn)
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return found if found is not None and found > SCHEMA_VERSION else None
