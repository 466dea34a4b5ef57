"""Streaming writer of LeRobot v3.0 datasets.

Frames go to per-camera worker threads as they arrive (video: straight into the encoder; image: PNG), so
memory does not grow with episode length. An episode is staged in ``<root>/.staging`` and committed in one
crash-safe step (see commit.py): after a crash the dataset is exactly what it was before that episode.

Files roll over like the library's: an episode joins the current data/video/episodes file unless the file
plus the episode would reach the size limit. Joining rewrites the file (parquet row groups are copied, mp4
packets remuxed), so a file is never modified in place.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_dataset import stats as stats_lib
from lerobot_dataset.commit import Transaction, WriterLock, atomic_write, recover
from lerobot_dataset.errors import DatasetError, DatasetFormatError, EpisodeError, FeatureError, FrameError
from lerobot_dataset.features import (
    CAMERA_DTYPES,
    DEFAULT_FEATURES,
    NUMERIC_DTYPES,
    DepthQuantizer,
    arrow_type,
    camera_shape,
    check_fps,
    check_frame_value,
    check_user_features,
    data_keys,
    data_schema,
    is_camera,
    is_depth,
)
from lerobot_dataset.metadata import (
    Episode,
    FileLimits,
    VideoSpan,
    json_bytes,
    new_info,
    read_episodes,
    read_info,
    read_stats,
    read_tasks,
    table_bytes,
    tasks_parquet,
    video_feature_info,
)
from lerobot_dataset.paths import (
    INFO_PATH,
    STAGING_DIR,
    STATS_PATH,
    TASKS_PATH,
    FileIndex,
    data_file,
    episodes_file,
    video_file,
)
from lerobot_dataset.sinks import CameraSink, ImageSink, SinkResult, VideoSink
from lerobot_dataset.video import ENCODER_ALIASES, VideoEncoderConfig, concat_videos

logger = logging.getLogger(__name__)

_MB = 1024**2
# Rows per parquet write when an episode carries PNG images (bounds memory for long image episodes).
_IMAGE_ROWS_PER_GROUP = 256


class _Column:
    """Values of one numeric feature for an episode, stored in preallocated blocks.

    One small long-lived allocation per frame, interleaved with the camera buffers that come and go, would
    fragment the heap until memory grew with the episode length; blocks avoid that.
    """

    _BLOCK_ROWS = 4096

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype):
        self._shape, self._dtype = shape, dtype
        self._blocks: list[np.ndarray] = []
        self._rows = 0

    def append(self, value: np.ndarray) -> None:
        if self._rows % self._BLOCK_ROWS == 0:
            self._blocks.append(np.empty((self._BLOCK_ROWS, *self._shape), dtype=self._dtype))
        self._blocks[-1][self._rows % self._BLOCK_ROWS] = value
        self._rows += 1

    def array(self) -> np.ndarray:
        if not self._blocks:
            return np.empty((0, *self._shape), dtype=self._dtype)
        return np.concatenate(self._blocks)[: self._rows]


class _EpisodeBuffer:
    """What the writer holds for the episode being recorded: small numbers in memory, cameras in workers."""

    def __init__(self, index: int, folder: Path):
        self.index = index
        self.folder = folder
        self.numeric: dict[str, _Column] = {}
        self.task_ids = _Column((), np.dtype(np.int32))
        self.tasks: list[str] = []  # unique, in order of first appearance
        self.sinks: dict[str, CameraSink] = {}
        self.length = 0
        self.first_timestamp: float | None = None
        self.last_timestamp: float | None = None
        self.broken: str | None = None

    def abort(self) -> None:
        for sink in self.sinks.values():
            sink.abort()
        shutil.rmtree(self.folder, ignore_errors=True)


class DatasetWriter:
    """Records episodes into a LeRobot v3.0 dataset folder. Open with ``create`` or ``append``.

    Typical use::

        with DatasetWriter.create(root, fps=30, features=features, robot_type="so101") as writer:
            for step in episode:
                writer.add_frame({"observation.state": q, "action": a, "observation.images.front": rgb},
                                 task="pick the cube")
            writer.save_episode()
    """

    def __init__(
        self, root: Path, info: dict[str, Any], video: VideoEncoderConfig, lock: WriterLock, resumed: bool
    ):
        self.root = root
        self._info = info
        self._video = video
        self._lock = lock
        self._tasks = read_tasks(root)
        self._task_index = {task: i for i, task in enumerate(self._tasks)}
        episodes = read_episodes(root, self._video_keys) if info["total_episodes"] else []
        if len(episodes) != info["total_episodes"]:
            lock.release(remove=False)
            raise DatasetFormatError(
                f"{root}: info.json says {info['total_episodes']} episodes, meta/episodes has "
                f"{len(episodes)}; run `lerobot-ros-dataset validate {root}` to see what is wrong"
            )
        self._last: Episode | None = episodes[-1] if episodes else None
        self._stats = read_stats(root)
        # A resumed dataset continues in new files: existing ones may come from another encoder or writer.
        self._fresh = resumed and self._last is not None
        self._episode: _EpisodeBuffer | None = None
        self._closed = False

    # ------------------------------------------------------------------ opening

    @classmethod
    def create(
        cls,
        root: str | Path,
        fps: int,
        features: Mapping[str, Mapping[str, Any]],
        robot_type: str | None = None,
        video: VideoEncoderConfig | None = None,
        limits: FileLimits | None = None,
    ) -> DatasetWriter:
        """Start a new dataset in ``root`` (absent or an empty folder).

        ``features`` maps names to ``{"dtype", "shape", "names"}`` as in lerobot: numeric dtypes with shape
        ``[N]``, ``video``/``image`` with ``[height, width, 3]``, depth maps as ``video`` with
        ``[height, width, 1]``.
        The five default features (timestamp, frame_index, ...) are added by the writer.
        """
        root = Path(root)
        fps = check_fps(fps)
        user = check_user_features(features)
        video = video or VideoEncoderConfig()
        limits = limits or FileLimits()
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise FileExistsError(f"{root} exists and is not empty; use DatasetWriter.append to add episodes")
        all_features: dict[str, dict[str, Any]] = {}
        for key, ft in user.items():
            if ft["dtype"] == "video":
                height, width, channels = camera_shape(ft)
                depth = channels == 1
                config = VideoEncoderConfig.depth() if depth else video
                config.check_available()
                ft = {**ft, "info": video_feature_info(height, width, channels, fps, config, depth)}
            all_features[key] = ft
        all_features.update({k: dict(v) for k, v in DEFAULT_FEATURES.items()})
        has_video = any(ft["dtype"] == "video" for ft in all_features.values())
        info = new_info(fps, robot_type, all_features, limits, has_video)
        root.mkdir(parents=True, exist_ok=True)
        lock = WriterLock(root)
        lock.acquire()
        try:
            (root / "meta").mkdir(exist_ok=True)
            atomic_write(root / INFO_PATH, json_bytes(info), root / STAGING_DIR)
        except Exception:
            lock.release()
            raise
        return cls(root, info, video, lock, resumed=False)

    @classmethod
    def append(cls, root: str | Path, video: VideoEncoderConfig | None = None) -> DatasetWriter:
        """Open an existing dataset (written by this package or by lerobot) to add episodes.

        An episode interrupted by a crash is rolled back first. ``video`` defaults to the settings recorded
        in info.json (or the library defaults for that codec).
        """
        root = Path(root)
        lock = WriterLock(root)
        if not (root / INFO_PATH).exists():
            raise DatasetFormatError(
                f"{root / INFO_PATH} is missing; use DatasetWriter.create for a new dataset"
            )
        lock.acquire()
        try:
            if recover(root):
                logger.warning("%s: rolled back an episode whose save was interrupted", root)
            info = read_info(root)
            unsupported = [
                k for k, ft in info["features"].items() if ft["dtype"] not in NUMERIC_DTYPES + CAMERA_DTYPES
            ]
            if unsupported:
                raise FeatureError(
                    f"{root} has features this writer cannot record ({', '.join(unsupported)}: dtype "
                    f"{info['features'][unsupported[0]]['dtype']}); add episodes to it with lerobot instead"
                )
            # This writer stores depth codes as millimetres; appending them under another quantizer would
            # give the new episodes a different scale than the old ones.
            quantized = [k for k, ft in info["features"].items() if DepthQuantizer.of(ft) is not None]
            if quantized:
                raise FeatureError(
                    f"{root}: depth feature(s) {', '.join(quantized)} were quantized by lerobot 0.6 (log or "
                    "scaled 12-bit codes), which this writer does not reproduce; add episodes with lerobot"
                )
            video = video or _config_from_info(info["features"])
            for ft in info["features"].values():
                if ft["dtype"] == "video":
                    (VideoEncoderConfig.depth() if is_depth(ft) else video).check_available()
        except Exception:
            lock.release(remove=False)
            raise
        return cls(root, info, video, lock, resumed=True)

    # ------------------------------------------------------------------ properties

    @property
    def fps(self) -> int:
        return int(self._info["fps"])

    @property
    def video(self) -> VideoEncoderConfig:
        """The encoder settings of colour videos (given, or those the dataset was made with)."""
        return self._video

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        """All features, the five defaults included, as info.json records them."""
        return self._info["features"]

    @property
    def num_episodes(self) -> int:
        """Saved episodes."""
        return int(self._info["total_episodes"])

    @property
    def num_frames(self) -> int:
        """Saved frames."""
        return int(self._info["total_frames"])

    @property
    def tasks(self) -> list[str]:
        return list(self._tasks)

    @property
    def pending_frames(self) -> int:
        """Frames added to the episode being recorded."""
        return self._episode.length if self._episode else 0

    @property
    def _user_keys(self) -> list[str]:
        return [k for k in self.features if k not in DEFAULT_FEATURES]

    @property
    def _video_keys(self) -> list[str]:
        return [k for k, ft in self.features.items() if ft["dtype"] == "video"]

    @property
    def _limits(self) -> FileLimits:
        return FileLimits(
            self._info["chunks_size"],
            self._info["data_files_size_in_mb"],
            self._info["video_files_size_in_mb"],
        )

    # ------------------------------------------------------------------ recording

    def add_frame(
        self, frame: Mapping[str, Any], task: str | None = None, timestamp: float | None = None
    ) -> None:
        """Add one frame to the current episode (started by the first frame).

        ``frame`` holds a value for every feature you declared (not the defaults). ``task`` (or
        ``frame["task"]``) is the episode's instruction text. ``timestamp`` (seconds, any origin) is optional:
        when given, frames must arrive in order, 1/fps apart, since the dataset stores frame k at k/fps.
        A frame that fails a check raises FrameError and is not recorded; the episode continues.
        """
        self._check_open()
        if self._episode is not None and self._episode.broken:
            raise EpisodeError(
                f"this episode cannot continue ({self._episode.broken}); call discard_episode()"
            )
        frame = dict(frame)
        if "task" in frame:
            frame_task = frame.pop("task")
            if task is not None and task != frame_task:
                raise FrameError(f"two different tasks given: {task!r} and frame['task']={frame_task!r}")
            task = frame_task
        if not isinstance(task, str) or not task:
            raise FrameError("every frame needs its task: a non-empty string such as 'pick up the cube'")
        expected = self._user_keys
        missing = [k for k in expected if k not in frame]
        extra = [k for k in frame if k not in expected]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                known = ", ".join(expected)
                parts.append(f"unknown {', '.join(map(str, extra))} (the dataset's features are: {known})")
            raise FrameError(f"frame does not match the features: {'; '.join(parts)}")
        values = {key: check_frame_value(key, self.features[key], frame[key]) for key in expected}
        self._check_timestamp(timestamp)

        if self._episode is None:
            self._episode = self._start_episode()
        episode = self._episode
        try:
            for key in expected:
                if is_camera(self.features[key]):
                    episode.sinks[key].put(values[key])
        except EpisodeError as err:
            episode.broken = str(err)
            raise
        for key in expected:
            if not is_camera(self.features[key]):
                if key not in episode.numeric:
                    episode.numeric[key] = _Column(values[key].shape, values[key].dtype)
                episode.numeric[key].append(values[key])
        if task not in episode.tasks:
            episode.tasks.append(task)
        episode.task_ids.append(episode.tasks.index(task))
        if timestamp is not None:
            if episode.first_timestamp is None:
                episode.first_timestamp = float(timestamp)
            episode.last_timestamp = float(timestamp)
        episode.length += 1

    def _check_timestamp(self, timestamp: float | None) -> None:
        episode = self._episode
        timed = episode is not None and episode.first_timestamp is not None
        if timestamp is None:
            if timed:
                raise FrameError("give a timestamp with every frame of an episode or with none")
            return
        if not isinstance(timestamp, (int, float, np.integer, np.floating)) or not math.isfinite(timestamp):
            raise FrameError(f"timestamp must be a finite number of seconds, got {timestamp!r}")
        if not timed:
            if episode is not None and episode.length:
                raise FrameError("give a timestamp with every frame of an episode or with none")
            return
        index = episode.length
        if timestamp <= episode.last_timestamp:
            raise FrameError(
                f"frames out of order: frame {index} has timestamp {timestamp:.6f} s, not after the previous "
                f"frame's {episode.last_timestamp:.6f} s; sort frames by time before adding them"
            )
        slot = episode.first_timestamp + index / self.fps
        if abs(timestamp - slot) > 0.5 / self.fps:
            raise FrameError(
                f"frame {index} has timestamp {timestamp - episode.first_timestamp:.6f} s after the episode "
                f"start, but at {self.fps} fps frame {index} belongs at {index / self.fps:.6f} s; the "
                "dataset needs one frame every 1/fps (resample, or repeat/drop frames, before adding them)"
            )

    def _new_episode_folder(self) -> _EpisodeBuffer:
        folder = self.root / STAGING_DIR / f"episode-{self.num_episodes:06d}"
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        return _EpisodeBuffer(self.num_episodes, folder)

    def _start_episode(self) -> _EpisodeBuffer:
        episode = self._new_episode_folder()
        folder = episode.folder
        try:
            for key, ft in self.features.items():
                if not is_camera(ft):
                    continue
                height, width, _ = camera_shape(ft)
                if ft["dtype"] == "image":
                    episode.sinks[key] = ImageSink(key, folder, height, width)
                else:
                    depth = is_depth(ft)
                    config = VideoEncoderConfig.depth() if depth else self._video
                    episode.sinks[key] = VideoSink(key, folder, self.fps, height, width, config, depth)
        except Exception:
            episode.abort()
            raise
        return episode

    def discard_episode(self) -> None:
        """Drop the frames added since the last save; the dataset on disk is untouched."""
        self._check_open()
        if self._episode is not None:
            self._episode.abort()
            self._episode = None

    def add_episode(
        self,
        data: Mapping[str, Sequence[Any] | np.ndarray],
        task: str | Sequence[str],
        timestamps: Sequence[float] | None = None,
    ) -> int:
        """Add and save a whole episode: ``data[key]`` holds one entry per frame (arrays with a leading time
        axis, or sequences); ``task`` is one string or one per frame. Returns the episode index.

        Frames are streamed to the encoders one by one, so ``data`` may be memory-mapped or lazy sequences.
        """
        self._check_open()
        if self._episode is not None:
            raise EpisodeError("an episode is in progress; save_episode() or discard_episode() it first")
        lengths = {key: len(values) for key, values in data.items()}
        if len(set(lengths.values())) > 1:
            raise FrameError(f"every feature needs the same number of frames, got {lengths}")
        length = next(iter(lengths.values()), 0)
        tasks = [task] * length if isinstance(task, str) else list(task)
        if len(tasks) != length or (timestamps is not None and len(timestamps) != length):
            raise FrameError(
                f"give one task (or one per frame) and one timestamp per frame for {length} frames"
            )
        try:
            for i in range(length):
                frame = {key: values[i] for key, values in data.items()}
                self.add_frame(frame, tasks[i], None if timestamps is None else timestamps[i])
        except Exception:
            self.discard_episode()
            raise
        return self.save_episode()

    # ------------------------------------------------------------------ saving

    def save_episode(self) -> int:
        """Finish encoding the current episode and commit it to the dataset; returns its episode index.

        If saving fails the episode is dropped and the dataset stays as it was before it.
        """
        self._check_open()
        episode = self._episode
        if episode is None or episode.length == 0:
            raise EpisodeError("no frames were added since the last save; add_frame() first")
        if episode.broken:
            raise EpisodeError(f"this episode cannot be saved ({episode.broken}); call discard_episode()")
        self._episode = None
        try:
            self._save(episode)
        except BaseException:
            episode.abort()
            recover(self.root)  # undoes a half-done commit and clears staging
            raise
        shutil.rmtree(episode.folder, ignore_errors=True)
        return episode.index

    def append_encoded_episode(self, source: str | Path) -> int:
        """Append the one episode of the dataset at ``source`` without re-encoding it; returns its index here.

        ``source`` was written by DatasetWriter (e.g. in another process, to encode episodes in parallel) with
        the same fps, features and video settings, and holds exactly one episode. Its mp4 files are moved,
        so ``source`` is consumed. The commit is the same crash-safe step as save_episode's.
        """
        self._check_open()
        if self._episode is not None:
            raise EpisodeError("an episode is in progress; save_episode() or discard_episode() it first")
        source = Path(source)
        info = read_info(source)
        if info["total_episodes"] != 1:
            raise DatasetFormatError(f"{source} holds {info['total_episodes']} episodes; give it exactly one")
        theirs, ours = info["features"], json.loads(json_bytes(self.features))  # both as info.json has them
        mismatched = sorted(k for k in {*ours, *theirs} if theirs.get(k) != ours.get(k))
        if info["fps"] != self.fps or mismatched:
            raise FeatureError(
                f"{source} was written with other features or settings than {self.root} "
                f"(fps {info['fps']} vs {self.fps}; differing: {mismatched or 'none'}): write it with the "
                "same features and VideoEncoderConfig"
            )
        if any(ft["dtype"] == "image" for ft in theirs.values()):
            raise FeatureError(f"{source} has image features: add its frames with add_frame instead")
        [source_episode] = read_episodes(source, self._video_keys)
        table = pq.read_table(source / data_file(source_episode.data_file, info["data_path"]))
        camera_stats = read_stats(source)
        episode = self._new_episode_folder()
        episode.length = source_episode.length
        episode.tasks = read_tasks(source)  # its only episode's, in order of first appearance
        try:
            results = {}
            for key in self._video_keys:
                path = episode.folder / f"{key}.mp4"
                mp4 = video_file(key, source_episode.videos[key].file, info["video_path"])
                shutil.move(source / mp4, path)
                results[key] = SinkResult(key, path, episode.length, camera_stats[key])
            numeric = {
                key: table.column(key).combine_chunks().flatten().to_numpy(zero_copy_only=False)
                if pa.types.is_fixed_size_list(table.schema.field(key).type)
                else table.column(key).to_numpy()
                for key in self._user_keys
                if not is_camera(self.features[key])
            }
            numeric = {k: v.reshape(episode.length, *self.features[k]["shape"]) for k, v in numeric.items()}
            self._commit(episode, numeric, table.column("task_index").to_numpy(), results)
        except BaseException:
            episode.abort()
            recover(self.root)  # undoes a half-done commit and clears staging
            raise
        shutil.rmtree(episode.folder, ignore_errors=True)
        return episode.index

    def _save(self, episode: _EpisodeBuffer) -> None:
        results = {}
        errors = []
        for key, sink in episode.sinks.items():
            try:
                results[key] = sink.finish()
            except DatasetError as err:
                errors.append(str(err))
        if errors:
            raise EpisodeError("; ".join(errors))
        numeric = {key: column.array() for key, column in episode.numeric.items()}
        self._commit(episode, numeric, episode.task_ids.array(), results)

    def _commit(
        self,
        episode: _EpisodeBuffer,
        numeric: Mapping[str, np.ndarray],
        task_ids: np.ndarray,
        results: Mapping[str, SinkResult],
    ) -> None:
        """Write the episode's data file and commit it with its videos and the updated metadata."""
        length, fps = episode.length, self.fps
        start = self.num_frames
        tasks = list(self._tasks)
        task_index = dict(self._task_index)
        for task in episode.tasks:
            if task not in task_index:
                task_index[task] = len(tasks)
                tasks.append(task)
        columns: dict[str, np.ndarray] = dict(numeric)
        columns["timestamp"] = (np.arange(length) / fps).astype(np.float32)
        columns["frame_index"] = np.arange(length, dtype=np.int64)
        columns["episode_index"] = np.full(length, episode.index, dtype=np.int64)
        columns["index"] = np.arange(start, start + length, dtype=np.int64)
        local_to_global = np.array([task_index[t] for t in episode.tasks], dtype=np.int64)
        columns["task_index"] = local_to_global[task_ids]

        ep_stats = {}
        for key, ft in self.features.items():
            ep_stats[key] = results[key].stats if is_camera(ft) else stats_lib.numeric_stats(columns[key])

        staged_data = episode.folder / "episode.parquet"
        self._write_episode_data(staged_data, columns, results, length)

        tx = Transaction(self.root)
        last, fresh, limits = self._last, self._fresh, self._limits

        # data/*.parquet
        if last is None or fresh:
            data_index = last.data_file.next(limits.chunks_size) if last else FileIndex(0, 0)
            tx.add_file(data_file(data_index, self._info["data_path"]), staged_data)
        else:
            data_index = self._place_parquet(tx, last.data_file, staged_data, limits)

        # videos/*/*.mp4
        spans: dict[str, VideoSpan] = {}
        for key in self._video_keys:
            staged_video = results[key].path
            if last is None or fresh:
                index = last.videos[key].file.next(limits.chunks_size) if last else FileIndex(0, 0)
                offset = 0.0
                tx.add_file(video_file(key, index, self._info["video_path"]), staged_video)
            else:
                index, offset = self._place_video(tx, key, last.videos[key], staged_video, limits)
            spans[key] = VideoSpan(index, offset, offset + length / fps)

        # meta/episodes/*.parquet
        meta_index, meta_table = self._place_episode_row(
            last, fresh, episode, episode.tasks, start, data_index, spans, ep_stats, limits
        )
        tx.add_bytes(episodes_file(meta_index), table_bytes(meta_table))

        if len(tasks) != len(self._tasks) or last is None:
            tx.add_bytes(TASKS_PATH, tasks_parquet(tasks))
        new_stats = stats_lib.aggregate([self._stats, ep_stats]) if self._stats else ep_stats
        tx.add_bytes(STATS_PATH, json_bytes(stats_lib.to_json(new_stats)))
        info = dict(self._info)
        info["total_episodes"] = episode.index + 1
        info["total_frames"] = start + length
        info["total_tasks"] = len(tasks)
        info["splits"] = {"train": f"0:{episode.index + 1}"}
        tx.add_bytes(INFO_PATH, json_bytes(info))
        tx.commit()

        self._info = info
        self._tasks, self._task_index = tasks, task_index
        self._stats = new_stats
        self._fresh = False
        self._last = Episode(
            index=episode.index,
            length=length,
            tasks=tuple(episode.tasks),
            dataset_from_index=start,
            dataset_to_index=start + length,
            data_file=data_index,
            meta_file=meta_index,
            videos=spans,
        )

    def _write_episode_data(
        self, path: Path, columns: Mapping[str, np.ndarray], results: Mapping[str, Any], length: int
    ) -> None:
        schema = data_schema(self.features)
        image_readers = {
            key: pq.ParquetFile(results[key].path).iter_batches(batch_size=_IMAGE_ROWS_PER_GROUP)
            for key, ft in self.features.items()
            if ft["dtype"] == "image"
        }
        step = _IMAGE_ROWS_PER_GROUP if image_readers else length
        with pq.ParquetWriter(path, schema, compression="snappy") as writer:
            for begin in range(0, length, step):
                end = min(begin + step, length)
                arrays = []
                for key in data_keys(self.features):
                    if key in image_readers:
                        arrays.append(next(image_readers[key]).column(0))
                    else:
                        arrays.append(_to_arrow(columns[key][begin:end], self.features[key]))
                writer.write_table(pa.Table.from_arrays(arrays, schema=schema))

    def _place_parquet(
        self, tx: Transaction, current: FileIndex, staged: Path, limits: FileLimits
    ) -> FileIndex:
        """Join the episode's rows to the current data file, or start the next file at the size limit."""
        current_path = self.root / data_file(current, self._info["data_path"])
        staged_size = staged.stat().st_size
        if current_path.stat().st_size + staged_size >= limits.data_files_size_in_mb * _MB:
            target = current.next(limits.chunks_size)
            tx.add_file(data_file(target, self._info["data_path"]), staged)
            return target
        merged = staged.with_name("merged.parquet")
        old = pq.ParquetFile(current_path)
        try:
            with pq.ParquetWriter(merged, old.schema_arrow, compression="snappy") as writer:
                for group in range(old.num_row_groups):
                    writer.write_table(old.read_row_group(group))
                new = pq.ParquetFile(staged)
                for group in range(new.num_row_groups):
                    writer.write_table(new.read_row_group(group).cast(old.schema_arrow))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
            # The existing file has another schema (e.g. written by another tool): start a new file.
            merged.unlink(missing_ok=True)
            target = current.next(limits.chunks_size)
            tx.add_file(data_file(target, self._info["data_path"]), staged)
            return target
        tx.add_file(data_file(current, self._info["data_path"]), merged)
        return current

    def _place_video(
        self, tx: Transaction, key: str, last: VideoSpan, staged: Path, limits: FileLimits
    ) -> tuple[FileIndex, float]:
        """Join the episode's mp4 to the camera's current file, or start the next file at the size limit."""
        current_path = self.root / video_file(key, last.file, self._info["video_path"])
        if current_path.stat().st_size + staged.stat().st_size >= limits.video_files_size_in_mb * _MB:
            target = last.file.next(limits.chunks_size)
            tx.add_file(video_file(key, target, self._info["video_path"]), staged)
            return target, 0.0
        joined = staged.with_name(f"{key}.joined.mp4")
        concat_videos([current_path, staged], joined)
        tx.add_file(video_file(key, last.file, self._info["video_path"]), joined)
        return last.file, last.to_timestamp

    def _place_episode_row(
        self,
        last: Episode | None,
        fresh: bool,
        episode: _EpisodeBuffer,
        ep_tasks: list[str],
        start: int,
        data_index: FileIndex,
        spans: Mapping[str, VideoSpan],
        ep_stats: Mapping[str, stats_lib.Stats],
        limits: FileLimits,
    ) -> tuple[FileIndex, pa.Table]:
        def row(meta_index: FileIndex) -> pa.Table:
            return self._episode_row(episode, ep_tasks, start, data_index, spans, ep_stats, meta_index)

        if last is None or fresh:
            index = last.meta_file.next(limits.chunks_size) if last else FileIndex(0, 0)
            return index, row(index)
        current = last.meta_file
        current_path = self.root / episodes_file(current)
        existing = pq.read_table(current_path)
        candidate = row(current)
        if current_path.stat().st_size + candidate.nbytes < limits.data_files_size_in_mb * _MB:
            try:
                return current, pa.concat_tables([existing, candidate.cast(existing.schema)])
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError):
                pass  # another writer's columns or types: start a new file
        index = current.next(limits.chunks_size)
        return index, row(index)

    def _episode_row(
        self,
        episode: _EpisodeBuffer,
        ep_tasks: list[str],
        start: int,
        data_index: FileIndex,
        spans: Mapping[str, VideoSpan],
        ep_stats: Mapping[str, stats_lib.Stats],
        meta_index: FileIndex,
    ) -> pa.Table:
        fields: list[tuple[str, pa.DataType, Any]] = [
            ("episode_index", pa.int64(), episode.index),
            ("tasks", pa.list_(pa.string()), ep_tasks),
            ("length", pa.int64(), episode.length),
            ("data/chunk_index", pa.int64(), data_index.chunk),
            ("data/file_index", pa.int64(), data_index.file),
            ("dataset_from_index", pa.int64(), start),
            ("dataset_to_index", pa.int64(), start + episode.length),
        ]
        for key, span in spans.items():
            fields += [
                (f"videos/{key}/chunk_index", pa.int64(), span.file.chunk),
                (f"videos/{key}/file_index", pa.int64(), span.file.file),
                (f"videos/{key}/from_timestamp", pa.float64(), span.from_timestamp),
                (f"videos/{key}/to_timestamp", pa.float64(), span.to_timestamp),
            ]
        for key, feature_stats in ep_stats.items():
            camera = is_camera(self.features[key])
            for name in stats_lib.STAT_NAMES:
                value = np.asarray(feature_stats[name])
                if name == "count":
                    fields.append(
                        (f"stats/{key}/count", pa.list_(pa.int64()), value.astype(np.int64).tolist())
                    )
                elif camera:
                    nested = pa.list_(pa.list_(pa.list_(pa.float64())))
                    fields.append((f"stats/{key}/{name}", nested, value.astype(np.float64).tolist()))
                else:
                    fields.append(
                        (f"stats/{key}/{name}", pa.list_(pa.float64()), value.astype(np.float64).tolist())
                    )
        fields += [
            ("meta/episodes/chunk_index", pa.int64(), meta_index.chunk),
            ("meta/episodes/file_index", pa.int64(), meta_index.file),
        ]
        schema = pa.schema([pa.field(name, dtype) for name, dtype, _ in fields])
        return pa.table({name: pa.array([value], type=dtype) for name, dtype, value in fields}, schema=schema)

    # ------------------------------------------------------------------ closing

    def close(self) -> None:
        """Release the dataset. An episode that was not saved is dropped (with a warning)."""
        if self._closed:
            return
        if self._episode is not None:
            if self._episode.length:
                logger.warning(
                    "dropping %d unsaved frames of episode %d", self._episode.length, self._episode.index
                )
            self._episode.abort()
            self._episode = None
        shutil.rmtree(self.root / STAGING_DIR, ignore_errors=True)
        self._lock.release()
        self._closed = True

    def __enter__(self) -> DatasetWriter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise EpisodeError("this writer is closed; open the dataset again with DatasetWriter.append")


def _to_arrow(values: np.ndarray, feature: Mapping[str, Any]) -> pa.Array:
    dtype = arrow_type(feature)
    if pa.types.is_fixed_size_list(dtype):
        flat = pa.array(np.ascontiguousarray(values).reshape(-1), type=dtype.value_type)
        return pa.FixedSizeListArray.from_arrays(flat, dtype.list_size)
    return pa.array(np.asarray(values).reshape(-1), type=dtype)


def _config_from_info(features: Mapping[str, Mapping[str, Any]]) -> VideoEncoderConfig:
    """The encoder settings of an existing dataset's colour videos, as far as info.json records them."""
    for ft in features.values():
        if ft["dtype"] != "video" or is_depth(ft):
            continue
        info = ft.get("info") or {}
        codec = ENCODER_ALIASES.get(info.get("video.codec", "av1"), info.get("video.codec", "av1"))
        default = (
            VideoEncoderConfig() if codec == "libsvtav1" else VideoEncoderConfig(codec=codec, preset=None)
        )
        return VideoEncoderConfig(
            codec=codec,
            pix_fmt=info.get("video.pix_fmt", default.pix_fmt),
            g=info.get("video.g", default.g),
            crf=info.get("video.crf", default.crf),
            preset=info.get("video.preset", default.preset),
            extra_options=info.get("video.extra_options") or {},
        )
    return VideoEncoderConfig()
