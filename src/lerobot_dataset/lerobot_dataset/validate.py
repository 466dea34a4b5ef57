"""Checks a dataset folder against the LeRobot v3.0 format, down to the decoded time of every video frame.

Each problem names the file and says what is wrong in the terms of the format (episode, frame, feature), so a
user can tell whether lerobot would refuse the dataset (error) or load it with a caveat (warning).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from lerobot_common.progress import progress
from lerobot_dataset.features import (
    CAMERA_DTYPES,
    CODEBASE_VERSION,
    DEFAULT_FEATURES,
    DEPTH_FLAG_KEYS,
    NUMERIC_DTYPES,
    camera_shape,
    data_keys,
    depth_flag,
    is_camera,
    video_keys,
)
from lerobot_dataset.metadata import EPISODE_COLUMNS, INFO_KEYS, VIDEO_COLUMNS, is_number_type
from lerobot_dataset.paths import (
    DATA_DIR,
    EPISODES_DIR,
    INFO_PATH,
    JOURNAL_PATH,
    STAGING_DIR,
    STATS_PATH,
    TASKS_PATH,
    FileIndex,
    data_file,
    sorted_parquet_files,
    video_file,
)
from lerobot_dataset.reader import decode_png
from lerobot_dataset.stats import STAT_NAMES, expected_shape
from lerobot_dataset.video import decoded_timestamps, probe_video

VIDEO_INFO_KEYS = (
    "video.height",
    "video.width",
    "video.codec",
    "video.pix_fmt",
    "video.fps",
    "video.channels",
    "has_audio",
)
_MAX_LISTED = 5


@dataclass(frozen=True)
class Problem:
    """One finding: ``error`` means lerobot refuses the dataset or returns wrong data; ``warning`` means it
    loads but something is off (a tool that needs it will fail, or lerobot prints a warning)."""

    severity: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.severity.upper()}: {self.where}: {self.message}"


def _listed(values: Iterable[Any]) -> str:
    values = list(values)
    shown = ", ".join(str(v) for v in values[:_MAX_LISTED])
    return shown + (f" and {len(values) - _MAX_LISTED} more" if len(values) > _MAX_LISTED else "")


class _Validator:
    def __init__(self, root: Path, decode_videos: bool, progress: bool, tolerance_s: float):
        self.root = root
        self.decode_videos = decode_videos
        self.progress = progress
        self.tol = tolerance_s
        self.problems: list[Problem] = []
        self.info: dict[str, Any] = {}
        self.features: dict[str, dict[str, Any]] = {}
        self.fps = 0
        self.tasks: list[str] = []
        self.episodes: dict[str, list[Any]] | None = None

    def error(self, where: str, message: str) -> None:
        self.problems.append(Problem("error", where, message))

    def warning(self, where: str, message: str) -> None:
        self.problems.append(Problem("warning", where, message))

    def _bar(self, items: list[Any], desc: str) -> Iterable[Any]:
        enabled = self.progress and len(items) > 1
        return progress(items, len(items), desc, "file", enabled=enabled, leave=False)

    def run(self) -> list[Problem]:
        if not self.root.is_dir():
            self.error(str(self.root), "is not a folder")
            return self.problems
        if (self.root / JOURNAL_PATH).exists():
            self.error(
                JOURNAL_PATH,
                "a save was interrupted and not rolled back; open the dataset once with "
                "DatasetReader or DatasetWriter.append (or run `lerobot-ros-dataset recover`) to undo it",
            )
        elif (self.root / STAGING_DIR).exists():
            self.warning(
                STAGING_DIR, "left over from a writer that is running or crashed (not part of the dataset)"
            )
        if not self.check_info():
            return self.problems
        self.check_tasks()
        self.check_episodes()
        self.check_data()
        self.check_videos()
        self.check_stats()
        return self.problems

    # ------------------------------------------------------------------ info.json

    def check_info(self) -> bool:
        path = self.root / INFO_PATH
        try:
            info = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self.error(INFO_PATH, "is missing; this is not the root folder of a LeRobot v3.0 dataset")
            return False
        except (OSError, ValueError) as err:  # unreadable, not UTF-8, not JSON
            self.error(INFO_PATH, f"is not readable JSON text ({err})")
            return False
        if not isinstance(info, dict):
            self.error(INFO_PATH, "must hold a JSON object")
            return False
        missing = [k for k in INFO_KEYS if k not in info]
        if missing:
            self.error(INFO_PATH, f"lacks {_listed(missing)} (lerobot 0.4 reads every one of them)")
        unknown = [k for k in info if k not in INFO_KEYS]
        if unknown:
            self.warning(
                INFO_PATH, f"has keys lerobot does not know: {_listed(unknown)} (0.6 warns about them)"
            )
        if info.get("codebase_version") != CODEBASE_VERSION:
            self.error(
                INFO_PATH, f"codebase_version is {info.get('codebase_version')!r}, not {CODEBASE_VERSION!r}"
            )
            return False
        fps = info.get("fps")
        if isinstance(fps, bool) or not isinstance(fps, int) or fps <= 0:
            self.error(INFO_PATH, f"fps must be a positive integer, it is {fps!r}")
            return False
        self.fps = fps
        for key in ("total_episodes", "total_frames", "total_tasks", "chunks_size"):
            value = info.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                self.error(INFO_PATH, f"{key} must be a non-negative integer, it is {value!r}")
                return False
        for key in ("data_files_size_in_mb", "video_files_size_in_mb"):
            if not isinstance(info.get(key), (int, float)) or info.get(key) <= 0:
                self.error(INFO_PATH, f"{key} must be a positive number, it is {info.get(key)!r}")
        features = info.get("features")
        if not isinstance(features, dict):
            self.error(INFO_PATH, "features must be an object mapping names to {dtype, shape, names}")
            return False
        self.info = info
        ok = all([self._check_feature(name, ft) for name, ft in features.items()])
        for name, default in DEFAULT_FEATURES.items():
            ft = features.get(name)
            if ft is None:
                self.error(INFO_PATH, f"default feature {name!r} is missing")
                ok = False
            elif ft.get("dtype") != default["dtype"] or list(ft.get("shape", [])) != default["shape"]:
                self.error(
                    INFO_PATH,
                    f"feature {name!r} must be dtype {default['dtype']} shape [1], it is "
                    f"{ft.get('dtype')} {ft.get('shape')}",
                )
        # Decided on dtype alone: a video feature with a faulty info block is still a video feature.
        has_video = any(isinstance(ft, dict) and ft.get("dtype") == "video" for ft in features.values())
        if has_video and not isinstance(info.get("video_path"), str):
            self.error(INFO_PATH, "video_path is null but the dataset has video features")
        if not has_video and info.get("video_path") is not None:
            self.warning(INFO_PATH, "video_path is set but no feature has dtype 'video' (it should be null)")
        for key, fields in (
            ("data_path", ("chunk_index", "file_index")),
            ("video_path", ("video_key", "chunk_index", "file_index")),
        ):
            template = info.get(key)
            if isinstance(template, str):
                try:
                    template.format(**{f: 0 if f != "video_key" else "k" for f in fields})
                except (KeyError, IndexError, ValueError) as err:
                    self.error(INFO_PATH, f"{key} {template!r} cannot be filled in ({err!r})")
                    ok = False
        expected_split = {"train": f"0:{info['total_episodes']}"} if info["total_episodes"] else {}
        if info.get("splits") not in (expected_split, {"train": f"0:{info['total_episodes']}"}):
            self.warning(INFO_PATH, f"splits is {info.get('splits')!r}, expected {expected_split!r}")
        if ok:
            self.features = features
        return ok

    def _check_feature(self, name: str, ft: Any) -> bool:
        where = f"{INFO_PATH} feature {name!r}"
        if "/" in name:
            self.error(
                where, "has '/' in its name; lerobot splits stats keys on '/', rename it (e.g. with '.')"
            )
        if not isinstance(ft, dict) or "dtype" not in ft or "shape" not in ft:
            self.error(where, "must have 'dtype' and 'shape'")
            return False
        shape = ft["shape"]
        if not isinstance(shape, list) or not shape or not all(isinstance(n, int) and n > 0 for n in shape):
            self.error(where, f"shape {shape!r} must be a list of positive integers")
            return False
        dtype = ft["dtype"]
        if dtype not in NUMERIC_DTYPES + CAMERA_DTYPES:
            if dtype == "string":
                self.warning(where, "dtype 'string' is not checked by this validator")
                return True
            self.error(where, f"dtype {dtype!r} is not one of {', '.join(NUMERIC_DTYPES + CAMERA_DTYPES)}")
            return False
        if dtype in CAMERA_DTYPES and len(shape) != 3:
            self.error(where, f"a camera needs shape [height, width, channels], it has {shape}")
            return False
        if dtype != "video":
            return True
        info = ft.get("info")
        if not isinstance(info, dict):
            self.error(where, "a video feature needs an 'info' block (video.codec, video.fps, ...)")
            return False
        missing = [k for k in VIDEO_INFO_KEYS if k not in info]
        if missing:
            self.error(where, f"info lacks {_listed(missing)}")
            return False
        if depth_flag(info) is None:
            markers = " or ".join(DEPTH_FLAG_KEYS)
            self.warning(where, f"info has no depth marker ({markers}); lerobot reads it as colour")
        flags = {k: bool(info[k]) for k in DEPTH_FLAG_KEYS if k in info}
        if len(set(flags.values())) > 1:
            self.error(where, f"info holds contradicting depth markers {flags}")
        height, width, channels = camera_shape(ft)
        if (info["video.height"], info["video.width"]) != (height, width):
            self.error(where, f"info says {info['video.width']}x{info['video.height']} but shape is {shape}")
        if info["video.fps"] != self.fps:
            self.error(where, f"video.fps {info['video.fps']} differs from the dataset fps {self.fps}")
        if info["video.channels"] != channels:
            self.warning(
                where, f"video.channels {info['video.channels']} differs from the shape's {channels}"
            )
        return True

    def _stats_keys(self) -> list[str]:
        """Features that have statistics: all but text (the library computes none for ``string``)."""
        return [k for k, ft in self.features.items() if ft["dtype"] != "string"]

    # ------------------------------------------------------------------ tasks.parquet

    def check_tasks(self) -> None:
        path = self.root / TASKS_PATH
        if not path.exists():
            if self.info["total_episodes"]:
                self.error(TASKS_PATH, "is missing")
            return
        try:
            table = pq.read_table(path)
        except (pa.ArrowInvalid, OSError) as err:
            self.error(TASKS_PATH, f"is not a readable parquet file ({err})")
            return
        pandas_meta = table.schema.pandas_metadata
        if not pandas_meta:
            self.error(
                TASKS_PATH,
                "has no pandas index metadata; save it with DataFrame.to_parquet so lerobot "
                "gets the task text (0.6 returns a number instead)",
            )
            return
        index_columns = pandas_meta.get("index_columns", [])
        if index_columns != ["task"]:
            self.warning(
                TASKS_PATH, f"the task index is stored as {index_columns}, the format names it 'task'"
            )
        if "task_index" not in table.column_names:
            self.error(TASKS_PATH, "has no task_index column")
            return
        if table.schema.field("task_index").type != pa.int64():
            self.error(TASKS_PATH, f"task_index is {table.schema.field('task_index').type}, must be int64")
        task_column = index_columns[0] if index_columns and isinstance(index_columns[0], str) else None
        if task_column not in table.column_names:
            self.error(TASKS_PATH, "the task text column is missing")
            return
        indices = table.column("task_index").to_pylist()
        if indices != list(range(len(indices))):
            self.error(
                TASKS_PATH, f"task_index must be 0..{len(indices) - 1} in row order, it is {_listed(indices)}"
            )
        self.tasks = [str(t) for t in table.column(task_column).to_pylist()]
        duplicates = sorted({t for t in self.tasks if self.tasks.count(t) > 1})
        if duplicates:
            self.error(TASKS_PATH, f"tasks listed twice: {_listed(duplicates)}")
        if len(self.tasks) != self.info["total_tasks"]:
            self.error(
                TASKS_PATH,
                f"has {len(self.tasks)} tasks but info.json total_tasks is {self.info['total_tasks']}",
            )

    # ------------------------------------------------------------------ meta/episodes

    def check_episodes(self) -> None:
        files = sorted_parquet_files(self.root, EPISODES_DIR)
        total = self.info["total_episodes"]
        if not files:
            if total:
                self.error(EPISODES_DIR, f"has no parquet files but info.json says {total} episodes")
            return
        required = list(EPISODE_COLUMNS) + [
            f"videos/{k}/{c}" for k in video_keys(self.features) for c in VIDEO_COLUMNS
        ]
        columns: dict[str, list[Any]] = {c: [] for c in required}
        file_of_row: list[FileIndex] = []
        stats_columns: set[str] | None = None
        for path in files:
            rel = str(path.relative_to(self.root))
            try:
                table = pq.read_table(path)
            except (pa.ArrowInvalid, OSError) as err:
                self.error(rel, f"is not a readable parquet file ({err})")
                return
            missing = [c for c in required if c not in table.column_names]
            if missing:
                self.error(rel, f"lacks columns {_listed(missing)}")
                return
            not_numbers = [
                f"{c} ({table.schema.field(c).type})"
                for c in required
                if c != "tasks" and not is_number_type(table.schema.field(c).type)
            ]
            if not_numbers:
                self.error(rel, f"columns must hold numbers: {_listed(not_numbers)}")
                return
            present = {c for c in table.column_names if c.startswith("stats/")}
            stats_columns = present if stats_columns is None else stats_columns & present
            for c in required:
                columns[c].extend(table.column(c).to_pylist())
            index = FileIndex(int(path.parent.name.split("-")[-1]), int(path.stem.split("-")[-1]))
            file_of_row.extend([index] * table.num_rows)
        where = EPISODES_DIR
        rows = len(columns["episode_index"])
        if columns["episode_index"] != list(range(rows)):
            wrong = [i for i, e in enumerate(columns["episode_index"]) if e != i]
            self.error(
                where, f"row i must describe episode i (in sorted file order); rows {_listed(wrong)} differ"
            )
            return
        if rows != total:
            self.error(where, f"lists {rows} episodes but info.json total_episodes is {total}")
        expected_from = 0
        for i in range(rows):
            length, start, end = (
                columns["length"][i],
                columns["dataset_from_index"][i],
                columns["dataset_to_index"][i],
            )
            if length is None or length < 1:
                self.error(where, f"episode {i} has length {length}; every episode needs at least one frame")
            elif start != expected_from or end - start != length:
                self.error(
                    where,
                    f"episode {i} covers frames [{start}, {end}) with length {length}, expected "
                    f"[{expected_from}, {expected_from + (length or 0)})",
                )
            expected_from = end if end is not None else expected_from
            where_row = FileIndex(
                columns["meta/episodes/chunk_index"][i], columns["meta/episodes/file_index"][i]
            )
            if where_row != file_of_row[i]:
                # lerobot's own merge tool leaves such rows; loading ignores these two columns.
                self.warning(
                    where, f"episode {i} says its row is in meta file {where_row}, it is in {file_of_row[i]}"
                )
            ep_tasks = columns["tasks"][i] or []
            if not ep_tasks:
                self.error(where, f"episode {i} has no task")
            unknown = [t for t in ep_tasks if t not in self.tasks]
            if unknown and self.tasks:
                self.error(where, f"episode {i} has tasks missing from {TASKS_PATH}: {_listed(unknown)}")
        if expected_from != self.info["total_frames"]:
            self.error(
                where,
                f"episodes add up to {expected_from} frames but info.json total_frames is "
                f"{self.info['total_frames']}",
            )
        wanted_stats = {f"stats/{k}/{s}" for k in self._stats_keys() for s in STAT_NAMES}
        missing_stats = sorted(wanted_stats - (stats_columns or set()))
        if missing_stats:
            self.warning(
                where,
                f"per-episode statistics columns are missing ({_listed(missing_stats)}); lerobot "
                "loads the dataset but its merge/split/delete tools need them",
            )
        self.episodes = columns

    # ------------------------------------------------------------------ data/*.parquet

    def check_data(self) -> None:
        files = sorted_parquet_files(self.root, DATA_DIR)
        if not files:
            if self.info["total_frames"]:
                self.error(DATA_DIR, "has no parquet files")
            return
        expected_columns = data_keys(self.features)
        starts = self.episodes["dataset_from_index"] if self.episodes else []
        ends = self.episodes["dataset_to_index"] if self.episodes else []
        next_index = 0
        for path in self._bar(files, "data files"):
            rel = str(path.relative_to(self.root))
            try:
                parquet = pq.ParquetFile(path)
            except (pa.ArrowInvalid, OSError) as err:
                self.error(rel, f"is not a readable parquet file ({err})")
                return
            names = parquet.schema_arrow.names
            missing = [c for c in expected_columns if c not in names]
            extra = [c for c in names if c not in expected_columns]
            if missing:
                self.error(rel, f"lacks columns for features {_listed(missing)}")
                return
            if extra:
                self.error(
                    rel,
                    f"has columns that are not (non-video) features: {_listed(extra)}; lerobot refuses "
                    "to load extra columns",
                )
            self._check_column_types(rel, parquet.schema_arrow)
            table = parquet.read(
                columns=[c for c in expected_columns if self.features[c]["dtype"] != "image"]
            )
            index = table.column("index").to_numpy()
            if len(index) == 0:
                self.error(rel, "has no rows")
                continue
            expected = np.arange(next_index, next_index + len(index))
            if not np.array_equal(index, expected):
                bad = int(np.flatnonzero(index != expected)[0])
                self.error(
                    rel,
                    f"row {bad} has index {index[bad]}, expected {expected[bad]}: 'index' must count "
                    "0, 1, 2, ... across the sorted data files (lerobot uses it as the row number)",
                )
                return
            next_index += len(index)
            if self.episodes:
                self._check_rows(rel, path, table, index, starts, ends)
            for key in expected_columns:
                self._check_row_lengths(rel, key, table)
                if self.features[key]["dtype"] in ("float32", "float64"):
                    values = _flat_numbers(table.column(key))
                    bad = np.flatnonzero(~np.isfinite(values))
                    if bad.size:
                        self.error(rel, f"feature {key!r} holds NaN or infinite values ({bad.size} of them)")
            for key in (k for k in expected_columns if self.features[k]["dtype"] == "image"):
                self._check_image_cell(rel, parquet, key)
        if next_index != self.info["total_frames"]:
            self.error(
                DATA_DIR,
                f"holds {next_index} frames but info.json total_frames is {self.info['total_frames']}",
            )

    def _check_column_types(self, rel: str, schema: pa.Schema) -> None:
        for key in data_keys(self.features):
            if key not in schema.names:
                continue
            ft, dtype = self.features[key], schema.field(key).type
            if ft["dtype"] == "image":
                if not (pa.types.is_struct(dtype) and dtype.get_field_index("bytes") >= 0):
                    self.error(
                        rel, f"image feature {key!r} must be a struct with 'bytes' (PNG), it is {dtype}"
                    )
                continue
            if ft["dtype"] not in NUMERIC_DTYPES:
                continue
            value_type = pa.from_numpy_dtype(np.dtype(ft["dtype"]))
            if ft["shape"] == [1]:
                if dtype != value_type:
                    self.error(rel, f"feature {key!r} must be a {value_type} scalar column, it is {dtype}")
            elif (
                not (pa.types.is_list(dtype) or pa.types.is_fixed_size_list(dtype))
                or dtype.value_type != value_type
            ):
                self.error(rel, f"feature {key!r} must be a list of {value_type}, it is {dtype}")
            elif pa.types.is_fixed_size_list(dtype) and dtype.list_size != ft["shape"][0]:
                self.error(
                    rel,
                    f"feature {key!r} has {dtype.list_size} values per row, its shape says {ft['shape'][0]}",
                )

    def _check_row_lengths(self, rel: str, key: str, table: pa.Table) -> None:
        """A list column must hold as many values in each row as the feature's shape says (a variable-length
        list is not checked by its type)."""
        if self.features[key]["dtype"] not in NUMERIC_DTYPES:
            return
        column = table.column(key).combine_chunks()
        if not pa.types.is_list(column.type):
            return
        width = int(np.prod(self.features[key]["shape"]))
        lengths = pc.list_value_length(column).to_numpy(zero_copy_only=False)
        wrong = np.flatnonzero(lengths != width)
        if wrong.size:
            self.error(
                rel,
                f"feature {key!r} holds {lengths[wrong[0]]} values in row {int(wrong[0])} ({wrong.size} rows "
                f"differ), its shape {self.features[key]['shape']} says {width}",
            )

    def _check_rows(
        self, rel: str, path: Path, table: pa.Table, index: np.ndarray, starts: list[int], ends: list[int]
    ) -> None:
        file_index = FileIndex(int(path.parent.name.split("-")[-1]), int(path.stem.split("-")[-1]))
        episode = np.searchsorted(np.asarray(ends), index, side="right")
        if episode.max() >= len(ends):
            self.error(rel, f"holds frames beyond the last episode (index {int(index.max())})")
            return
        stored = table.column("episode_index").to_numpy()
        if not np.array_equal(stored, episode):
            bad = int(np.flatnonzero(stored != episode)[0])
            self.error(
                rel,
                f"frame {index[bad]} says episode {stored[bad]} but meta/episodes puts it in "
                f"episode {episode[bad]}",
            )
            return
        for ep in np.unique(episode):
            meta_file = FileIndex(self.episodes["data/chunk_index"][ep], self.episodes["data/file_index"][ep])
            if meta_file != file_index:
                self.error(
                    rel,
                    f"holds frames of episode {ep}, which meta/episodes places in "
                    f"{data_file(meta_file, self.info['data_path'])}",
                )
        frame_index = table.column("frame_index").to_numpy()
        expected = index - np.asarray(starts)[episode]
        if not np.array_equal(frame_index, expected):
            bad = int(np.flatnonzero(frame_index != expected)[0])
            self.error(
                rel,
                f"frame {index[bad]} has frame_index {frame_index[bad]}, expected {expected[bad]} "
                "(it restarts at 0 in each episode)",
            )
        timestamps = table.column("timestamp").to_numpy().astype(np.float64)
        off = np.abs(timestamps - expected / self.fps)
        if (off > self.tol).any():
            bad = int(np.argmax(off))
            self.error(
                rel,
                f"frame {index[bad]} has timestamp {timestamps[bad]:.6f} s but frame_index/fps is "
                f"{expected[bad] / self.fps:.6f} s",
            )
        task_index = table.column("task_index").to_numpy()
        if self.tasks and ((task_index < 0) | (task_index >= len(self.tasks))).any():
            self.error(rel, f"task_index values outside 0..{len(self.tasks) - 1}")

    def _check_image_cell(self, rel: str, parquet: pq.ParquetFile, key: str) -> None:
        cell = parquet.read_row_group(0, columns=[key]).column(0)[0].as_py()
        try:
            image = decode_png(cell["bytes"])
        except Exception as err:  # any decoder failure is a finding, not a crash
            self.error(rel, f"the first {key!r} image does not decode ({err})")
            return
        height, width, _ = camera_shape(self.features[key])
        if image.shape[:2] != (height, width):
            self.error(
                rel,
                f"{key!r} images are {image.shape[1]}x{image.shape[0]}, the feature says {width}x{height}",
            )

    # ------------------------------------------------------------------ videos

    def check_videos(self) -> None:
        if not self.episodes:
            return
        jobs = []
        for key in video_keys(self.features):
            spans: dict[FileIndex, list[int]] = {}
            for ep, (chunk, file) in enumerate(
                zip(
                    self.episodes[f"videos/{key}/chunk_index"],
                    self.episodes[f"videos/{key}/file_index"],
                    strict=True,
                )
            ):
                spans.setdefault(FileIndex(chunk, file), []).append(ep)
            jobs += [(key, index, eps) for index, eps in spans.items()]
            referenced = {video_file(key, i, self.info["video_path"]) for i in spans}
            folder = self.root / "videos" / key
            orphans = [
                str(p.relative_to(self.root))
                for p in folder.glob("*/*.mp4")
                if str(p.relative_to(self.root)) not in referenced
            ]
            if orphans:
                self.warning(f"videos/{key}", f"files no episode refers to: {_listed(sorted(orphans))}")
        for key, index, eps in self._bar(jobs, "video files"):
            self._check_video_file(key, index, eps)

    def _check_video_file(self, key: str, index: FileIndex, eps: list[int]) -> None:
        rel = video_file(key, index, self.info["video_path"])
        path = self.root / rel
        if not path.exists():
            self.error(rel, f"is missing (episodes {_listed(eps)} refer to it)")
            return
        info = self.features[key]["info"]
        try:
            probe = probe_video(path)
        except Exception as err:  # FFmpeg's reasons are many; all mean the same to the user
            self.error(rel, f"cannot be opened as a video ({err})")
            return
        if probe.codec != info["video.codec"]:
            self.error(rel, f"is encoded as {probe.codec}, info.json says {info['video.codec']}")
        height, width, _ = camera_shape(self.features[key])
        if (probe.width, probe.height) != (width, height):
            self.error(rel, f"is {probe.width}x{probe.height}, the feature says {width}x{height}")
        if probe.pix_fmt and probe.pix_fmt != info["video.pix_fmt"]:
            self.warning(rel, f"pixel format is {probe.pix_fmt}, info.json says {info['video.pix_fmt']}")
        expected_start = 0.0
        frames = 0
        for ep in sorted(eps):
            start = self.episodes[f"videos/{key}/from_timestamp"][ep]
            end = self.episodes[f"videos/{key}/to_timestamp"][ep]
            length = self.episodes["length"][ep]
            if abs(start - expected_start) > self.tol:
                self.error(
                    rel,
                    f"episode {ep} starts at {start:.6f} s in this file, expected {expected_start:.6f} s "
                    "(the previous episode's end, or 0 for the first); its frames would be wrong",
                )
            if abs((end - start) - length / self.fps) > self.tol:
                self.error(
                    rel,
                    f"episode {ep} spans {end - start:.6f} s but has {length} frames "
                    f"({length / self.fps:.6f} s at {self.fps} fps)",
                )
            expected_start = end
            frames += length
        if not self.decode_videos:
            return
        try:
            timestamps = decoded_timestamps(path)
        except Exception as err:  # a decoder error anywhere in the file
            self.error(rel, f"does not decode ({err})")
            return
        if len(timestamps) != frames:
            self.error(
                rel,
                f"decodes to {len(timestamps)} frames but its episodes ({_listed(sorted(eps))}) have "
                f"{frames}",
            )
        expected = np.arange(min(len(timestamps), frames)) / self.fps
        off = np.abs(timestamps[: len(expected)] - expected)
        if off.size and off.max() >= self.tol:
            bad = int(np.argmax(off >= self.tol))
            self.error(
                rel,
                f"decoded frame {bad} is at {timestamps[bad]:.6f} s, expected {expected[bad]:.6f} s "
                f"(frame k must be at k/{self.fps} s); lerobot would raise FrameTimestampError",
            )

    # ------------------------------------------------------------------ stats.json

    def check_stats(self) -> None:
        path = self.root / STATS_PATH
        if not path.exists():
            if self.info["total_episodes"]:
                self.error(STATS_PATH, "is missing; policies normalise with it")
            return
        try:
            stats = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:  # unreadable, not UTF-8, not JSON
            self.error(STATS_PATH, f"is not readable JSON text ({err})")
            return
        if not isinstance(stats, dict) or not all(isinstance(v, dict) for v in stats.values()):
            self.error(STATS_PATH, "must map each feature to {statistic: numbers}")
            return
        missing = [k for k in self._stats_keys() if k not in stats]
        if missing:
            self.error(STATS_PATH, f"has no statistics for {_listed(missing)}")
        for key in self._stats_keys():
            ft = self.features[key]
            if key not in stats:
                continue
            absent = [s for s in STAT_NAMES if s not in stats[key]]
            if absent:
                self.error(STATS_PATH, f"{key!r} lacks {_listed(absent)}")
            shape = expected_shape(ft)
            for name, value in stats[key].items():
                if name not in STAT_NAMES:
                    continue
                try:
                    array = np.asarray(value, dtype=np.float64)
                except (TypeError, ValueError):
                    self.error(STATS_PATH, f"{key!r} {name} is not a number or a list of numbers: {value!r}")
                    continue
                want = (1,) if name == "count" else shape
                if array.shape != want:
                    self.error(
                        STATS_PATH, f"{key!r} {name} has shape {list(array.shape)}, expected {list(want)}"
                    )
                elif not np.isfinite(array).all():
                    self.error(STATS_PATH, f"{key!r} {name} is not finite: {array.tolist()}")
            count = stats[key].get("count")
            if not is_camera(ft) and count is not None and _first(count) != self.info["total_frames"]:
                self.warning(
                    STATS_PATH,
                    f"{key!r} count is {count}, but the dataset has {self.info['total_frames']} frames",
                )


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def _flat_numbers(column: pa.ChunkedArray) -> np.ndarray:
    array = column.combine_chunks()
    if pa.types.is_list(array.type) or pa.types.is_fixed_size_list(array.type):
        array = pc.list_flatten(array)
    return array.to_numpy(zero_copy_only=False).astype(np.float64)


def validate_dataset(
    root: str | Path, decode_videos: bool = True, progress: bool = False, tolerance_s: float = 1e-4
) -> list[Problem]:
    """Every problem found in the dataset at ``root`` (empty when it is valid LeRobot v3.0).

    ``decode_videos`` decodes every frame to check its timestamp (slow for large datasets; without it the
    container metadata is still checked). ``progress`` reports on stderr (bars on a terminal).
    """
    return _Validator(Path(root), decode_videos, progress, tolerance_s).run()


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.severity == "error" for p in problems)
