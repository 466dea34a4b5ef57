"""meta/info.json, meta/tasks.parquet and meta/episodes/*.parquet: building, reading, serialising."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_dataset.errors import DatasetFormatError
from lerobot_dataset.features import CODEBASE_VERSION, DEPTH_QUANTIZER_INFO
from lerobot_dataset.paths import (
    DATA_PATH,
    EPISODES_DIR,
    INFO_PATH,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_PATH,
    FileIndex,
    sorted_parquet_files,
)
from lerobot_dataset.stats import Stats, from_json
from lerobot_dataset.video import VideoEncoderConfig

# Every key of info.json, in the library's order; 0.4.x indexes each directly, 0.6.x warns about others.
INFO_KEYS = (
    "codebase_version",
    "robot_type",
    "total_episodes",
    "total_frames",
    "total_tasks",
    "chunks_size",
    "data_files_size_in_mb",
    "video_files_size_in_mb",
    "fps",
    "splits",
    "data_path",
    "video_path",
    "features",
)


@dataclass(frozen=True)
class FileLimits:
    """When files roll over: at most ``chunks_size`` files per chunk folder, and these sizes per file."""

    chunks_size: int = 1000
    data_files_size_in_mb: float = 100
    video_files_size_in_mb: float = 200

    def __post_init__(self) -> None:
        if self.chunks_size < 1 or self.data_files_size_in_mb <= 0 or self.video_files_size_in_mb <= 0:
            raise ValueError(f"file limits must be positive, got {self}")


def new_info(
    fps: int, robot_type: str | None, features: Mapping[str, Any], limits: FileLimits, has_video: bool
) -> dict[str, Any]:
    return {
        "codebase_version": CODEBASE_VERSION,
        "robot_type": robot_type,
        "total_episodes": 0,
        "total_frames": 0,
        "total_tasks": 0,
        "chunks_size": limits.chunks_size,
        "data_files_size_in_mb": limits.data_files_size_in_mb,
        "video_files_size_in_mb": limits.video_files_size_in_mb,
        "fps": fps,
        "splits": {},
        "data_path": DATA_PATH,
        "video_path": VIDEO_PATH if has_video else None,
        "features": dict(features),
    }


def video_feature_info(
    height: int, width: int, channels: int, fps: int, config: VideoEncoderConfig, depth: bool
) -> dict[str, Any]:
    """The ``info`` block of a video feature: stream description (0.4.x keys), encoder settings (0.6.x) and,
    for depth, the quantizer under which lerobot 0.6 reads the stored values unchanged."""
    return {
        "video.height": height,
        "video.width": width,
        "video.codec": config.canonical_codec,
        "video.pix_fmt": config.pix_fmt,
        "video.is_depth_map": depth,
        "video.fps": fps,
        "video.channels": channels,
        "has_audio": False,
        **config.info(),
        "is_depth_map": depth,
        **(DEPTH_QUANTIZER_INFO if depth else {}),
    }


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise DatasetFormatError(
            f"{path} is missing: is this the root folder of a LeRobot v3.0 dataset?"
        ) from err
    except OSError as err:  # the root is a file, a folder stands where the file should be, no permission
        raise DatasetFormatError(
            f"{path} cannot be read ({err.strerror}): point at the dataset's root folder (the one "
            "holding meta/)"
        ) from err
    except UnicodeDecodeError as err:
        raise DatasetFormatError(f"{path} is not UTF-8 text ({err}): the file is damaged") from err
    except json.JSONDecodeError as err:
        raise DatasetFormatError(f"{path} is not valid JSON ({err})") from err


def _is_count(value: Any, least: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= least


def read_info(root: Path) -> dict[str, Any]:
    """meta/info.json, refused (naming what is wrong) unless the values the reader uses have their types."""
    path = root / INFO_PATH
    info = read_json(path)
    if not isinstance(info, dict):
        raise DatasetFormatError(f"{path} must hold a JSON object, it holds {type(info).__name__}")
    missing = [key for key in INFO_KEYS if key not in info]
    if missing:
        raise DatasetFormatError(f"{path} lacks {', '.join(missing)}; it is not a v3.0 dataset")
    if info["codebase_version"] != CODEBASE_VERSION:
        raise DatasetFormatError(
            f"{root} is a LeRobot {info['codebase_version']} dataset; this package reads {CODEBASE_VERSION}. "
            "Convert it with lerobot's convert_dataset_v21_to_v30 script."
        )
    problems = [] if _is_count(info["fps"], 1) else [f"fps must be a positive integer, it is {info['fps']!r}"]
    problems += [
        f"{key} must be a non-negative integer, it is {info[key]!r}"
        for key in ("total_episodes", "total_frames", "total_tasks", "chunks_size")
        if not _is_count(info[key], 0)
    ]
    features = info["features"]
    if not isinstance(features, dict):
        problems.append("features must map names to {dtype, shape, names}")
    else:
        problems += [
            f"feature {name!r} needs a 'dtype' and a 'shape' of positive integers, it is {ft!r}"
            for name, ft in features.items()
            if not isinstance(ft, dict)
            or not isinstance(ft.get("dtype"), str)
            or not isinstance(ft.get("shape"), list)
            or not ft["shape"]
            or not all(_is_count(n, 1) for n in ft["shape"])
        ]
    if problems:
        raise DatasetFormatError(
            f"{path}: {'; '.join(problems)}. Fix the file (`lerobot-ros-dataset validate {root}` lists every "
            "problem)"
        )
    return info


def json_bytes(data: Any) -> bytes:
    return (json.dumps(data, indent=4, ensure_ascii=False) + "\n").encode()


def read_stats(root: Path) -> dict[str, Stats]:
    path = root / STATS_PATH
    if not path.exists():
        return {}
    data = read_json(path)
    try:
        stats = from_json(data)
        not_numbers = [
            f"{key}.{name}"
            for key, fs in stats.items()
            for name, v in fs.items()
            if v.dtype.kind not in "biuf"
        ]
    except (AttributeError, TypeError, ValueError) as err:
        not_numbers = [str(err)]
    if not_numbers:
        raise DatasetFormatError(
            f"{path} must map each feature to {{statistic: numbers}}, these are not: "
            f"{', '.join(not_numbers[:5])}; recompute the statistics or restore the file"
        )
    return stats


def read_parquet(path: Path, columns: Callable[[list[str]], list[str]] | None = None) -> pa.Table:
    """The table in ``path`` (only the columns ``columns`` picks from the file's names); a missing or damaged
    file is a DatasetFormatError naming it."""
    try:
        names = None if columns is None else columns(pq.read_schema(path).names)
        return pq.read_table(path, columns=names)
    except (pa.ArrowException, OSError) as err:
        raise DatasetFormatError(
            f"{path} is not a readable parquet file ({err}); restore it from a copy or convert the "
            "recordings again (`lerobot-ros-dataset validate` lists every problem)"
        ) from err


def read_tasks(root: Path) -> list[str]:
    """Task strings in task_index order (index named ``task``, or an unnamed index as 0.4.x writes it)."""
    path = root / TASKS_PATH
    if not path.exists():
        return []
    table = read_parquet(path)
    if "task_index" not in table.column_names or not pa.types.is_integer(
        table.schema.field("task_index").type
    ):
        raise DatasetFormatError(f"{path} has no task_index column of integers; restore the file")
    frame = table.to_pandas()
    frame = frame.sort_values("task_index")
    if "task" in frame.columns:  # written without the pandas index metadata
        return [str(t) for t in frame["task"]]
    return [str(t) for t in frame.index]


def tasks_parquet(tasks: Sequence[str]) -> bytes:
    """meta/tasks.parquet content: index = task text (named ``task``), one int64 column ``task_index``."""
    frame = pd.DataFrame(
        {"task_index": np.arange(len(tasks), dtype=np.int64)},
        index=pd.Index(list(tasks), name="task", dtype=object),
    )
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def table_bytes(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="snappy")
    return buffer.getvalue()


@dataclass(frozen=True)
class VideoSpan:
    """Where an episode's frames of one camera live: file and seconds [from_timestamp, to_timestamp)."""

    file: FileIndex
    from_timestamp: float
    to_timestamp: float


@dataclass(frozen=True)
class Episode:
    """One row of meta/episodes: an episode's length, tasks and where its rows and video frames are."""

    index: int
    length: int
    tasks: tuple[str, ...]
    dataset_from_index: int
    dataset_to_index: int
    data_file: FileIndex
    meta_file: FileIndex
    videos: Mapping[str, VideoSpan] = field(default_factory=dict)


def episode_columns(table_columns: Sequence[str]) -> list[str]:
    """The episodes columns that describe location (the stats/* columns are only needed for merging)."""
    return [c for c in table_columns if not c.startswith("stats/")]


def episodes_from_table(table: pa.Table, video_keys: Sequence[str]) -> list[Episode]:
    cols = table.to_pydict()
    episodes = []
    for i in range(table.num_rows):
        videos = {
            key: VideoSpan(
                FileIndex(
                    int(cols[f"videos/{key}/chunk_index"][i]), int(cols[f"videos/{key}/file_index"][i])
                ),
                float(cols[f"videos/{key}/from_timestamp"][i]),
                float(cols[f"videos/{key}/to_timestamp"][i]),
            )
            for key in video_keys
        }
        episodes.append(
            Episode(
                index=int(cols["episode_index"][i]),
                length=int(cols["length"][i]),
                tasks=tuple(cols["tasks"][i] or ()),
                dataset_from_index=int(cols["dataset_from_index"][i]),
                dataset_to_index=int(cols["dataset_to_index"][i]),
                data_file=FileIndex(int(cols["data/chunk_index"][i]), int(cols["data/file_index"][i])),
                meta_file=FileIndex(
                    int(cols["meta/episodes/chunk_index"][i]), int(cols["meta/episodes/file_index"][i])
                ),
                videos=videos,
            )
        )
    return episodes


# The meta/episodes columns every dataset has (all numbers but ``tasks``), and those per video feature.
EPISODE_COLUMNS = (
    "episode_index",
    "tasks",
    "length",
    "data/chunk_index",
    "data/file_index",
    "dataset_from_index",
    "dataset_to_index",
    "meta/episodes/chunk_index",
    "meta/episodes/file_index",
)
VIDEO_COLUMNS = ("chunk_index", "file_index", "from_timestamp", "to_timestamp")


def is_number_type(type_: pa.DataType) -> bool:
    return pa.types.is_integer(type_) or pa.types.is_floating(type_)


def read_episodes(root: Path, video_keys: Sequence[str]) -> list[Episode]:
    episodes = []
    for path in sorted_parquet_files(root, EPISODES_DIR):
        table = read_parquet(path, episode_columns)
        numbers = [c for c in EPISODE_COLUMNS if c != "tasks"]
        numbers += [f"videos/{key}/{c}" for key in video_keys for c in VIDEO_COLUMNS]
        not_numbers = [
            name
            for name in numbers
            if name in table.column_names
            and (table.column(name).null_count or not is_number_type(table.column(name).type))
        ]
        if not_numbers:
            raise DatasetFormatError(
                f"{path}: columns {', '.join(not_numbers[:5])} must hold numbers in every row; restore the "
                "file (`lerobot-ros-dataset validate` lists every problem)"
            )
        try:
            episodes += episodes_from_table(table, video_keys)
        except KeyError as err:
            raise DatasetFormatError(f"{path}: column {err} is missing") from err
        except TypeError as err:  # tasks that are not a list of text
            raise DatasetFormatError(f"{path}: the tasks column must hold lists of text ({err})") from err
    return episodes
