"""Reading LeRobot v3.0 datasets (written by this package or by lerobot): episodes, frames with decoded
camera images, and ``delta_timestamps`` windows with padding flags, the way lerobot's LeRobotDataset does.
"""

from __future__ import annotations

import bisect
import os
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lerobot_dataset.commit import recover_if_unlocked
from lerobot_dataset.errors import DatasetFormatError
from lerobot_dataset.features import (
    NUMERIC_DTYPES,
    DepthQuantizer,
    camera_keys,
    camera_shape,
    image_keys,
    is_camera,
    is_depth,
    video_keys,
)
from lerobot_dataset.metadata import Episode, read_episodes, read_info, read_parquet, read_stats, read_tasks
from lerobot_dataset.paths import STATS_PATH, TASKS_PATH, FileIndex, data_file, video_file
from lerobot_dataset.stats import Stats
from lerobot_dataset.video import VideoReader

# Open files kept per reader: decoded parquet files and video decoders (least recently used are closed).
_DATA_FILES_CACHED = 4
_VIDEOS_CACHED_PER_KEY = 2


@dataclass
class _DataFile:
    path: Path
    first_index: int
    numeric: dict[str, np.ndarray]
    images: dict[str, pa.ChunkedArray]
    rows: int


def decode_png(data: bytes) -> np.ndarray:
    """An RGB (H, W, 3) uint8 array from PNG (or any image FFmpeg reads) bytes."""
    codec = av.codec.CodecContext.create("png", "r")
    try:
        frames = codec.decode(av.Packet(data))
    except av.error.FFmpegError as err:
        raise DatasetFormatError(f"an image cell holds no decodable PNG ({err})") from err
    if not frames:
        raise DatasetFormatError("an image cell holds no decodable PNG")
    return frames[0].to_ndarray(format="rgb24")


def check_delta_timestamps(
    delta_timestamps: Mapping[str, Sequence[float]], fps: int, tolerance_s: float, features: Iterable[str]
) -> dict[str, list[int]]:
    """Frame offsets of ``delta_timestamps``; each must be a multiple of 1/fps within ``tolerance_s``."""
    known = set(features)
    offsets = {}
    for key, deltas in delta_timestamps.items():
        if key not in known:
            raise ValueError(f"delta_timestamps names {key!r}, which is not a feature of this dataset")
        bad = [d for d in deltas if abs(d * fps - round(d * fps)) / fps > tolerance_s]
        if bad:
            raise ValueError(
                f"delta_timestamps[{key!r}] = {bad} are not multiples of 1/{fps} s (within {tolerance_s} s); "
                f"use values like {[round(d * fps) / fps for d in bad]}"
            )
        offsets[key] = [round(d * fps) for d in deltas]
    return offsets


class DatasetReader:
    """Random and sequential access to a dataset's frames.

    ``frame(i)`` returns every feature of global frame ``i``: vectors as arrays, shape-[1] features as
    scalars, cameras decoded to (H, W, 3) uint8 (depth: (H, W, 1) uint16), plus ``task`` (text).
    Opening a dataset whose last save was interrupted rolls that save back first.
    """

    def __init__(self, root: str | Path, tolerance_s: float = 1e-4):
        self.root = Path(root)
        self.tolerance_s = tolerance_s
        recover_if_unlocked(self.root)
        self.info = read_info(self.root)
        self.features: dict[str, dict[str, Any]] = self.info["features"]
        self.fps = int(self.info["fps"])
        self.tasks = read_tasks(self.root)
        if not self.tasks and self.info["total_episodes"]:
            raise DatasetFormatError(
                f"{self.root / TASKS_PATH} is missing but the dataset has episodes (every frame names a "
                "task in it); restore the file or convert the recordings again"
            )
        self.video_keys = video_keys(self.features)
        self.image_keys = image_keys(self.features)
        self.camera_keys = camera_keys(self.features)
        # Depth videos lerobot 0.6 quantized (log scale): decoded to millimetres as lerobot does.
        self._depth_quantizers = {k: DepthQuantizer.of(self.features[k]) for k in self.video_keys}
        self.episodes: list[Episode] = read_episodes(self.root, self.video_keys)
        if len(self.episodes) != self.info["total_episodes"]:
            raise DatasetFormatError(
                f"{self.root}: info.json says {self.info['total_episodes']} episodes but meta/episodes lists "
                f"{len(self.episodes)}; run `lerobot-ros-dataset validate {self.root}`"
            )
        self._ends = [ep.dataset_to_index for ep in self.episodes]
        self._numeric_keys = [k for k, ft in self.features.items() if not is_camera(ft)]
        self._open()

    def _open(self) -> None:
        self._pid = os.getpid()
        self._data: OrderedDict[FileIndex, _DataFile] = OrderedDict()
        self._videos: OrderedDict[tuple[str, FileIndex], VideoReader] = OrderedDict()

    # Decoders hold native handles: never share them with a forked or unpickled copy.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_data", None)
        state.pop("_videos", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._open()

    def _check_process(self) -> None:
        if self._pid != os.getpid():  # forked: inherited decoders are pinned by video.py, open new ones
            self._open()

    @property
    def num_frames(self) -> int:
        return int(self.info["total_frames"])

    @property
    def num_episodes(self) -> int:
        return len(self.episodes)

    @property
    def robot_type(self) -> str | None:
        return self.info["robot_type"]

    @property
    def stats(self) -> dict[str, Stats]:
        """meta/stats.json (policies normalise with it): refused when a dataset with episodes lacks it."""
        stats = read_stats(self.root)
        if not stats and self.num_episodes:
            raise DatasetFormatError(
                f"{self.root / STATS_PATH} is missing or empty; every dataset with episodes has its "
                "statistics there: restore the file from a copy of the dataset"
            )
        return stats

    def __len__(self) -> int:
        return self.num_frames

    def episode_of(self, index: int) -> Episode:
        """The episode holding global frame ``index``."""
        if not 0 <= index < self.num_frames:
            raise IndexError(f"frame index {index} is outside 0..{self.num_frames - 1}")
        return self.episodes[bisect.bisect_right(self._ends, index)]

    # ------------------------------------------------------------------ rows

    def _data_file(self, index: FileIndex) -> _DataFile:
        self._check_process()
        cached = self._data.get(index)
        if cached is not None:
            self._data.move_to_end(index)
            return cached
        path = self.root / data_file(index, self.info["data_path"])
        if not path.exists():
            raise DatasetFormatError(f"{path} is missing")
        table = read_parquet(path)
        missing = [key for key in self._numeric_keys + self.image_keys if key not in table.column_names]
        if missing:
            raise DatasetFormatError(
                f"{path} lacks the columns of features {missing} that meta/info.json lists; run "
                f"`lerobot-ros-dataset validate {self.root}`"
            )
        numeric = {
            key: _column_to_numpy(table.column(key), self.features[key], f"{path}: feature {key!r}")
            for key in self._numeric_keys
        }
        images = {key: table.column(key) for key in self.image_keys}
        first = int(numeric["index"][0]) if table.num_rows else 0
        loaded = _DataFile(path, first, numeric, images, table.num_rows)
        self._data[index] = loaded
        if len(self._data) > _DATA_FILES_CACHED:
            self._data.popitem(last=False)
        return loaded

    def _rows(self, episode: Episode, indices: Sequence[int]) -> tuple[_DataFile, np.ndarray]:
        data = self._data_file(episode.data_file)
        rows = np.asarray(indices, dtype=np.int64) - data.first_index
        if (
            rows.min() < 0
            or rows.max() >= data.rows
            or not np.array_equal(data.numeric["index"][rows], indices)
        ):
            raise DatasetFormatError(
                f"episode {episode.index}: its rows are not where meta/episodes says (data file "
                f"{data_file(episode.data_file)}); run `lerobot-ros-dataset validate {self.root}`"
            )
        return data, rows

    def episode_columns(self, episode_index: int) -> dict[str, np.ndarray]:
        """Every numeric feature of one episode as arrays with a leading time axis (no decoding)."""
        episode = self.episodes[episode_index]
        data, rows = self._rows(episode, range(episode.dataset_from_index, episode.dataset_to_index))
        return {key: data.numeric[key][rows] for key in self._numeric_keys}

    def check_finite(self, episodes: Iterable[int] | None = None) -> None:
        """Raise DatasetFormatError naming each float feature that holds NaN or infinity in ``episodes`` (all
        by default): a policy trained on such a frame turns every weight into NaN. Reads no video."""
        problems = []
        for episode_index in range(self.num_episodes) if episodes is None else episodes:
            columns = self.episode_columns(episode_index)
            episode = self.episodes[episode_index]
            for key, values in columns.items():
                if values.dtype.kind != "f":
                    continue
                bad = ~np.isfinite(values.reshape(len(values), -1)).all(axis=1)
                if bad.any():
                    problems.append(
                        f"{key!r} in {int(bad.sum())} frame(s) of episode {episode_index}, first at frame "
                        f"{episode.dataset_from_index + int(np.argmax(bad))} "
                        f"({data_file(episode.data_file, self.info['data_path'])})"
                    )
        if problems:
            shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
            raise DatasetFormatError(
                f"{self.root} holds NaN or infinite values: {shown}. Fix or re-record those episodes, or "
                f"leave them out (`lerobot-ros-dataset validate {self.root}` lists every problem)"
            )

    # ------------------------------------------------------------------ cameras

    def _video(self, key: str, index: FileIndex) -> VideoReader:
        self._check_process()
        reader = self._videos.get((key, index))
        if reader is not None:
            self._videos.move_to_end((key, index))
            return reader
        path = self.root / video_file(key, index, self.info["video_path"])
        if not path.exists():
            raise DatasetFormatError(f"{path} is missing")
        try:
            reader = VideoReader(path, depth=is_depth(self.features[key]), tolerance_s=self.tolerance_s)
        except (av.error.FFmpegError, IndexError) as err:  # IndexError: no video stream in the file
            raise _unreadable_video(path, err) from err
        self._videos[(key, index)] = reader
        if len(self._videos) > _VIDEOS_CACHED_PER_KEY * max(1, len(self.video_keys)):
            self._videos.popitem(last=False)[1].close()
        return reader

    def _camera(self, key: str, episode: Episode, data: _DataFile, rows: np.ndarray) -> np.ndarray:
        """Frames of camera ``key`` at the given rows of one episode, stacked (N, H, W, C)."""
        if self.features[key]["dtype"] == "image":
            column = data.images[key]
            pictures = []
            for row in rows:
                cell = column[int(row)].as_py()
                where = f"{data.path}: {key!r} frame {int(data.first_index + row)}"
                if not isinstance(cell, dict) or not isinstance(cell.get("bytes"), bytes):
                    raise DatasetFormatError(f"{where} has no image bytes")
                try:
                    pictures.append(decode_png(cell["bytes"]))
                except DatasetFormatError as err:
                    raise DatasetFormatError(f"{where}: {err}") from err
            return np.stack(pictures)
        span = episode.videos[key]
        frame_indices = data.numeric["index"][rows] - episode.dataset_from_index
        timestamps = [span.from_timestamp + int(i) / self.fps for i in frame_indices]
        video = self._video(key, span.file)
        try:
            frames = video.frames_at(timestamps)
        except av.error.FFmpegError as err:
            raise _unreadable_video(video.path, err) from err
        quantizer = self._depth_quantizers.get(key)
        return frames if quantizer is None else quantizer.millimetres(frames)

    # ------------------------------------------------------------------ frames

    def frame(self, index: int, decode: bool = True, cameras: Sequence[str] | None = None) -> dict[str, Any]:
        """Every feature of global frame ``index`` and its ``task``; cameras only if ``decode``, and only
        those in ``cameras`` when given (decoding is most of the cost)."""
        episode = self.episode_of(index)
        data, rows = self._rows(episode, [index])
        item = self._item(data, rows[0])
        if decode:
            for key in self.camera_keys if cameras is None else cameras:
                item[key] = self._camera(key, episode, data, rows)[0]
        return item

    def _item(self, data: _DataFile, row: int) -> dict[str, Any]:
        item: dict[str, Any] = {}
        for key in self._numeric_keys:
            value = data.numeric[key][row]
            item[key] = value[0] if list(self.features[key]["shape"]) == [1] and np.ndim(value) else value
        task_index = int(data.numeric["task_index"][row])
        if not 0 <= task_index < len(self.tasks):
            raise DatasetFormatError(
                f"{data.path}: frame {int(data.first_index + row)} has task_index {task_index}, but "
                f"{TASKS_PATH} lists {len(self.tasks)} tasks; run `lerobot-ros-dataset validate {self.root}`"
            )
        item["task"] = self.tasks[task_index]
        return item

    def iter_frames(
        self, episodes: Iterable[int] | None = None, decode: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Frames in order, episode after episode (all by default); video is decoded once, sequentially."""
        for episode_index in range(self.num_episodes) if episodes is None else episodes:
            episode = self.episodes[episode_index]
            data, rows = self._rows(episode, range(episode.dataset_from_index, episode.dataset_to_index))
            for row in rows:
                item = self._item(data, int(row))
                if decode:
                    for key in self.camera_keys:
                        item[key] = self._camera(key, episode, data, np.array([row]))[0]
                yield item

    def window(
        self,
        index: int,
        delta_timestamps: Mapping[str, Sequence[float]],
        cameras: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Frame ``index`` with the features named in ``delta_timestamps`` replaced by stacks of the frames
        at those time offsets (seconds), clamped to the episode, plus ``<key>_is_pad`` (True where the offset
        fell outside the episode and the edge frame was repeated) - as lerobot's LeRobotDataset returns.
        Cameras not in ``delta_timestamps`` are decoded at ``index`` (only those in ``cameras`` when given).
        """
        offsets = check_delta_timestamps(delta_timestamps, self.fps, self.tolerance_s, self.features)
        episode = self.episode_of(index)
        data, rows = self._rows(episode, [index])
        item = self._item(data, rows[0])
        first, last = episode.dataset_from_index, episode.dataset_to_index - 1
        for key in self.camera_keys if cameras is None else cameras:
            if key not in offsets:
                item[key] = self._camera(key, episode, data, rows)[0]
        for key, steps in offsets.items():
            wanted = [index + step for step in steps]
            clamped = [min(max(i, first), last) for i in wanted]
            _, query_rows = self._rows(episode, clamped)
            if is_camera(self.features[key]):
                item[key] = self._camera(key, episode, data, query_rows)
            else:
                item[key] = data.numeric[key][query_rows]
            item[f"{key}_is_pad"] = np.array([i < first or i > last for i in wanted])
        return item

    def close(self) -> None:
        for reader in self._videos.values():
            reader.close()
        self._videos.clear()
        self._data.clear()

    def __enter__(self) -> DatasetReader:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def image_shape(self, key: str) -> tuple[int, int, int]:
        return camera_shape(self.features[key])


def _unreadable_video(path: Path, err: Exception) -> DatasetFormatError:
    return DatasetFormatError(
        f"{path} is not a readable video ({err}); restore it from a copy or convert the recordings again "
        "(`lerobot-ros-dataset validate` lists every problem)"
    )


def _column_to_numpy(column: pa.ChunkedArray, feature: Mapping[str, Any], where: str) -> np.ndarray:
    """A numeric parquet column as (rows,) or (rows, N) numpy, for scalar and list columns alike (text
    features, which lerobot allows, as an object array of str); refused unless every row holds the number of
    values the feature's shape says (``where`` names the file and feature in that error)."""
    if feature["dtype"] not in NUMERIC_DTYPES:
        return np.array(column.to_pylist(), dtype=object)
    array = column.combine_chunks()
    dtype = np.dtype(feature["dtype"])
    width = int(np.prod(feature["shape"]))
    is_list = (
        pa.types.is_list(array.type)
        or pa.types.is_fixed_size_list(array.type)
        or pa.types.is_large_list(array.type)
    )
    value_type = array.type.value_type if is_list else array.type
    if not (
        pa.types.is_integer(value_type) or pa.types.is_floating(value_type) or pa.types.is_boolean(value_type)
    ):
        raise DatasetFormatError(f"{where} holds {array.type}, not the numbers ({dtype}) meta/info.json says")
    if array.null_count or (is_list and pc.list_flatten(array).null_count):
        raise DatasetFormatError(f"{where} has empty (null) cells")
    if not is_list:
        if width != 1:
            raise DatasetFormatError(
                f"{where} holds one value per row, but its shape in meta/info.json is {feature['shape']}"
            )
        return array.to_numpy(zero_copy_only=False).astype(dtype, copy=False)
    lengths = pc.list_value_length(array).to_numpy(zero_copy_only=False)
    wrong = np.flatnonzero(lengths != width)
    if wrong.size:
        raise DatasetFormatError(
            f"{where}: row {int(wrong[0])} holds {int(lengths[wrong[0]])} values, but its shape in "
            f"meta/info.json is {feature['shape']} ({width} values); run `lerobot-ros-dataset validate`"
        )
    flat = pc.list_flatten(array).to_numpy(zero_copy_only=False)
    return flat.astype(dtype, copy=False).reshape(len(array), width)
