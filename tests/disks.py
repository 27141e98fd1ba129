"""A real disk that fills, for tests: a tmpfs of a few MiB mounted on a folder (a node's
blobs folder), and a file of ours that takes its free space. Mounting needs root, as
``make test`` runs here; elsewhere the tests that need it are skipped, saying why."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

MIB = 1024 * 1024


@contextmanager
def small_disk(folder: Path, size: int = 8 * MIB) -> Iterator[Path]:
    """A filesystem of ``size`` bytes on ``folder``: it fills as a real disk does."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root (make test runs as root)")
    folder.mkdir(mode=0o700, exist_ok=True)
    subprocess.run(
        ["/usr/bin/mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder)],
        check=True,
    )
    try:
        yield folder
    finally:
        subprocess.run(["/usr/bin/umount", "--lazy", str(folder)], check=True)


def free(folder: Path) -> int:
    stats = os.statvfs(folder)
    return stats.f_bavail * stats.f_frsize


def fill(folder: Path, leave: int) -> Path:
    """A file of ours in ``folder`` that leaves about ``leave`` bytes free (whole pages)."""
    filler = folder / "filler"
    with filler.open("ab") as handle:
        handle.write(b"\0" * max(free(folder) - leave, 0))
    return filler
