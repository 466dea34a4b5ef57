"""Where each file of a LeRobot v3.0 dataset lives, and how (chunk, file) indices advance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_DIR = "meta/episodes"
DATA_DIR = "data"
VIDEOS_DIR = "videos"

DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"

# Hidden names the writer uses while a write is in progress; never part of a finished dataset.
STAGING_DIR = ".staging"
JOURNAL_PATH = ".commit-journal.json"
LOCK_PATH = ".writer.lock"


@dataclass(frozen=True, order=True)
class FileIndex:
    """Position of a file: ``chunk-{chunk:03d}/file-{file:03d}``."""

    chunk: int
    file: int

    def next(self, chunks_size: int) -> FileIndex:
        """The file after this one: file_index counts 0..chunks_size-1, then the chunk advances."""
        if self.file >= chunks_size - 1:
            return FileIndex(self.chunk + 1, 0)
        return FileIndex(self.chunk, self.file + 1)


def data_file(index: FileIndex, template: str = DATA_PATH) -> str:
    return template.format(chunk_index=index.chunk, file_index=index.file)


def video_file(video_key: str, index: FileIndex, template: str = VIDEO_PATH) -> str:
    return template.format(video_key=video_key, chunk_index=index.chunk, file_index=index.file)


def episodes_file(index: FileIndex) -> str:
    return EPISODES_PATH.format(chunk_index=index.chunk, file_index=index.file)


def sorted_parquet_files(root: Path, directory: str) -> list[Path]:
    """The files the library loads from ``directory``: ``*/*.parquet`` in sorted path order."""
    return sorted((root / directory).glob("*/*.parquet"))
