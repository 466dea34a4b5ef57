"""Crash-safe replacement of several dataset files at once: a journal, hard-link backups, and roll-back.

A save writes every new file version into the staging folder first. ``Transaction.commit`` then records the
plan in a journal, keeps the previous version of each target as a backup, moves the new versions into place
and deletes the journal: that deletion is the commit point. A process that dies before it leaves the journal
behind; ``recover`` (run by the writer and reader on open) puts every backup back, so the dataset is exactly
what it was before the episode. Metadata files are listed last, so a concurrent reader that sees new
metadata also sees the data it refers to.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from lerobot_dataset.errors import DatasetFormatError, DatasetLockedError
from lerobot_dataset.paths import JOURNAL_PATH, LOCK_PATH, STAGING_DIR

try:
    import fcntl
except ImportError:  # Windows: no advisory locks; a single writer per dataset is then the caller's job.
    fcntl = None


def fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems refuse to open a directory for fsync
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and flush it to disk (the caller moves it into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def fsync_file(path: Path) -> None:
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def atomic_write(path: Path, data: bytes, scratch: Path) -> None:
    """Replace ``path`` with ``data`` so readers see the old or the new content, never a mix.

    The temporary copy is written in ``scratch`` (same filesystem), which recovery clears after a crash.
    """
    tmp = scratch / f"{path.name}.tmp"
    write_durably(tmp, data)
    os.replace(tmp, path)
    fsync_dir(path.parent)


class WriterLock:
    """An exclusive advisory lock on a dataset folder, held while a writer has it open."""

    def __init__(self, root: Path):
        self.path = root / LOCK_PATH
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as err:
                os.close(fd)
                raise DatasetLockedError(
                    f"{self.path.parent} is open for writing by another process; close that writer first"
                ) from err
        self._fd = fd

    def release(self, remove: bool = True) -> None:
        if self._fd is None:
            return
        if remove:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        os.close(self._fd)  # closing drops the flock
        self._fd = None


@dataclass
class _Entry:
    target: str  # relative to the dataset root
    staged: str
    backup: str
    existed: bool


class Transaction:
    """Files to move into a dataset together; ``commit`` makes all of them visible or (after a crash) none."""

    def __init__(self, root: Path):
        self.root = root
        self.folder = root / STAGING_DIR / "commit"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._entries: list[_Entry] = []

    def _staged_name(self) -> Path:
        return self.folder / f"staged-{len(self._entries):04d}"

    def add_file(self, target: str, staged: Path) -> None:
        """Move the already written file ``staged`` (inside the dataset folder) to ``target`` on commit."""
        own = self._staged_name()
        os.replace(staged, own)
        fsync_file(own)
        self._add(target, own)

    def add_bytes(self, target: str, data: bytes) -> None:
        own = self._staged_name()
        write_durably(own, data)
        self._add(target, own)

    def _add(self, target: str, staged: Path) -> None:
        backup = self.folder / f"backup-{len(self._entries):04d}"
        self._entries.append(
            _Entry(
                target=target,
                staged=str(staged.relative_to(self.root)),
                backup=str(backup.relative_to(self.root)),
                existed=(self.root / target).exists(),
            )
        )

    def commit(self) -> None:
        journal = self.root / JOURNAL_PATH
        atomic_write(journal, json.dumps([asdict(e) for e in self._entries], indent=1).encode(), self.folder)
        touched_dirs = set()
        for entry in self._entries:
            target = self.root / entry.target
            target.parent.mkdir(parents=True, exist_ok=True)
            if entry.existed:
                backup = self.root / entry.backup
                try:
                    os.link(target, backup)
                except OSError:  # no hard links here: the target is briefly absent, the journal covers it
                    os.replace(target, backup)
            os.replace(self.root / entry.staged, target)
            touched_dirs.add(target.parent)
        for folder in touched_dirs:
            fsync_dir(folder)
        journal.unlink()  # the commit point
        fsync_dir(self.root)
        for entry in self._entries:
            with contextlib.suppress(FileNotFoundError):
                (self.root / entry.backup).unlink()
        self._entries.clear()


def read_journal(journal: Path) -> list[_Entry]:
    try:
        return [_Entry(**entry) for entry in json.loads(journal.read_text(encoding="utf-8"))]
    except (ValueError, TypeError) as err:  # not UTF-8, not JSON, or not a list of entries
        raise DatasetFormatError(
            f"{journal} is damaged ({err}), so the interrupted save it records cannot be rolled back. Move "
            "it out of the dataset, then run `lerobot-ros-dataset validate` on the dataset: if it reports "
            "errors, restore the dataset from a copy"
        ) from err


def recover(root: Path) -> bool:
    """Undo a commit that a crash interrupted and clear staging leftovers; True if something was undone.

    Call only while holding the WriterLock (or knowing no writer is running).
    """
    journal = root / JOURNAL_PATH
    rolled_back = False
    if journal.exists():
        entries = read_journal(journal)
        for entry in reversed(entries):
            target, backup = root / entry.target, root / entry.backup
            if backup.exists():
                os.replace(backup, target)
                # Renaming one hard link onto another of the same file is a no-op that leaves the source.
                with contextlib.suppress(FileNotFoundError):
                    backup.unlink()
            elif not entry.existed:
                with contextlib.suppress(FileNotFoundError):
                    target.unlink()
        journal.unlink()
        fsync_dir(root)
        rolled_back = True
    shutil.rmtree(root / STAGING_DIR, ignore_errors=True)
    return rolled_back


def needs_recovery(root: Path) -> bool:
    return (root / JOURNAL_PATH).exists()


def recover_if_unlocked(root: Path) -> bool:
    """For readers: roll back an interrupted commit if no writer holds the dataset; True if rolled back."""
    if not needs_recovery(root):
        return False
    lock = WriterLock(root)
    lock.acquire()  # raises DatasetLockedError while a live writer is mid-commit
    try:
        return recover(root)
    finally:
        lock.release()
