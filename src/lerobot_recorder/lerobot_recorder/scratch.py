"""Scratch folders of parallel conversion, beside the output: `.<output name>.converting-<random>`.

The converting process holds an flock on its scratch folder for as long as the folder exists. The kernel
drops that lock when the process dies, however it dies (SIGKILL included), so the next conversion into the
same output removes every such folder that no live process holds. Workers are killed with their parent
(Linux's PR_SET_PDEATHSIG), so a killed run leaves no orphan encoding into a folder about to be removed.
"""

from __future__ import annotations

import ctypes
import fcntl
import glob
import logging
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logger = logging.getLogger(__name__)

PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _prefix(root: Path) -> str:
    return f".{root.name}.converting-"


def remove_stale(root: Path) -> list[Path]:
    """Remove the scratch folders of ``root`` whose converting process is gone; return them."""
    parent = root.absolute().parent
    removed = []
    for folder in map(Path, glob.glob(glob.escape(str(parent / _prefix(root))) + "*")):
        try:
            descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:  # not a folder, or removed meanwhile by another run
            continue
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live conversion holds it
        else:
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("removed %s, left by a conversion that was killed", folder)
            removed.append(folder)
        finally:
            os.close(descriptor)
    return removed


@contextmanager
def scratch_folder(root: Path) -> Iterator[Path]:
    """A new scratch folder beside ``root``, locked while in use and removed after."""
    parent = root.absolute().parent
    parent.mkdir(parents=True, exist_ok=True)
    while True:
        folder = Path(tempfile.mkdtemp(prefix=_prefix(root), dir=parent))
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        try:  # another run may have taken it for stale between its creation and the lock
            if os.stat(folder).st_ino == os.fstat(descriptor).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(descriptor)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        os.close(descriptor)


def worker_dies_with_parent(parent_pid: int) -> None:
    """Process-pool initializer: the kernel kills this worker when the converting process dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
