"""The data folder is owner-only: folders 0700, files 0600, whatever the umask.

It holds the database (metadata, audit log, sessions and CSRF tokens), the blobs
and the private keys, so another local user must neither read nor write anything
in it. ``exchange init`` makes it so, the writers keep it so (keyfiles.write_private,
store.db, service.evidence), and a node refuses to start on a folder that has come
open since (a copy with ``cp -r``, an operator's ``chmod``, files from an older
version). Only the folder itself and what it holds are checked: its parents are the
operator's business (pytest's ``tmp_path`` is 0755, for one).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from ..config import ConfigError

OPEN_BITS = 0o077  # anything for the group or for others
SHOWN = 3  # paths named in the message


class DataFolderOpen(ConfigError):
    """The data folder, or something in it, can be read, written or entered by users
    other than its owner: the node will not start on it until it is closed."""

    code = "data_folder_open"


def make_private(data: Path) -> None:
    """Create ``data`` (or close the empty folder given to ``exchange init``) 0700."""
    data.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(data, 0o700)


def open_paths(data: Path) -> list[tuple[Path, int]]:
    """Everything under ``data`` (itself included) that group or others may use,
    with its permission bits. Symbolic links are judged by what they point to."""
    found: list[tuple[Path, int]] = []

    def judge(path: Path) -> None:
        try:
            mode = os.stat(path).st_mode
        except FileNotFoundError:
            return  # gone meanwhile (a WAL file), or a dangling link: nothing to read
        if stat.S_IMODE(mode) & OPEN_BITS:
            found.append((path, stat.S_IMODE(mode)))

    judge(data)
    for root, dirs, files in os.walk(data):
        for name in [*dirs, *files]:
            judge(Path(root) / name)
    return found


def require_private(data: Path) -> None:
    """Raise ``DataFolderOpen``, naming the fix, if ``data`` is not owner-only."""
    if not data.is_dir():
        raise ConfigError(f"no data folder at {data}")
    found = open_paths(data)
    if not found:
        return
    shown = ", ".join(f"{path} is {mode:04o}" for path, mode in found[:SHOWN])
    more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    raise DataFolderOpen(
        f"the data folder is open to other users ({shown}{more}): "
        f"close it with `chmod -R go-rwx {data}` and start again"
    )
