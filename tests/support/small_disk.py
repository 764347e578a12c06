"""Filesystems of their own for the tests of a full disk and a read-only store: a tmpfs of a
few megabytes mounted at a test's folder (root: ``mount -t tmpfs``; CI runs as root), remounted
read-only or filled to the last byte. Where mounting is not permitted the test is skipped."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(path: Path, size: str = "32m") -> Iterator[Path]:
    """A tmpfs of ``size`` at ``path``, unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small filesystem needs root (mount -t tmpfs)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True, text=True)
    if done.returncode:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def make_read_only(path: Path) -> None:
    """Remount the small disk at ``path`` read-only (even root cannot write to it then)."""
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True, capture_output=True)


def fill(path: Path) -> Path:
    """Write a file under ``path`` until its disk has no byte left; returns the file (delete it to free)."""
    filler = path / "filler.bin"
    block = b"\0" * (64 << 10)
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
        try:  # the last partial block
            while True:
                fh.write(b"\0" * 512)
        except OSError:
            pass
    return filler
