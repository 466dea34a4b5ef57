"""Episode bags → LeRobot v3.0 dataset, without ROS (rosbags reads MCAP and sqlite3 bags of any distro).

Per bag: pass 1 decodes the joint streams (small) and reads image stamps straight from the CDR header (no
image decode); the streams are aligned on the frame grid (lerobot_recorder.sync); pass 2 decodes only the
images the kept frames use, in bag order, and streams frames into the dataset writer — memory stays bounded
whatever the episode length. Time is never compressed: a stream missing for a frame or two is filled (and
reported), a longer gap splits the bag into one episode per side, each frame stamped with its grid time.
A bag that cannot be read or aligned is reported and skipped; the dataset keeps every episode converted
before it, and a rerun resumes after the last converted bag. Joint values are stored in the units each
feature asks for (lerobot_dataset.units). A bag that was never closed (no metadata.yaml, an MCAP without its
footer) is salvaged up to its last complete record (lerobot_recorder.salvage) and reported.

With several workers, each bag is decoded, aligned and encoded in its own process into one-episode datasets
next to the output (lerobot_recorder.scratch); the parent appends those episodes in bag order (the same
episode indices, frames and values as one process gives) with the writer's crash-safe commit, moving the
encoded videos, not re-encoding.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import struct
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from rosbags.highlevel import AnyReaderError
from rosbags.rosbag2 import ReaderError

from lerobot_common.conversions import MessageError, image_array, joint_values, stamp_ns
from lerobot_common.progress import progress as show_progress
from lerobot_dataset import DatasetError, DatasetWriter, VideoEncoderConfig
from lerobot_dataset.mapping import (
    DATASET_MAPPING_FILE,
    STAMPED_TYPES,
    SUITE_META,
    FeatureSource,
    Mapping,
    MappingError,
    parse_mapping,
)
from lerobot_dataset.units import MappingUnits, mapping_units
from lerobot_recorder.bags import BagError, BagReader, OpenedBag, bag_metadata, open_bag
from lerobot_recorder.msgdefs import UnknownMessageType
from lerobot_recorder.report import slow_streams, write_report
from lerobot_recorder.salvage import SalvageError
from lerobot_recorder.scratch import remove_stale, scratch_folder, worker_dies_with_parent
from lerobot_recorder.streams import EpisodeReport, Stream
from lerobot_recorder.sync import (
    DEFAULT_MAX_FILL,
    MIN_EPISODE_S,
    NS,
    Alignment,
    StreamPolicy,
    SyncError,
    align,
)

logger = logging.getLogger(__name__)

CONVERTED_FILE = SUITE_META / "converted.json"
REPORTS_DIR = SUITE_META / "sync"


def header_stamp_ns(raw: bytes | memoryview) -> int | None:
    """The header stamp of a CDR-serialized message whose first field is a std_msgs/Header."""
    if len(raw) < 12:  # CDR encapsulation and the stamp
        raise BagError(f"a message of {len(raw)} bytes is too short to hold a header: the bag is corrupt")
    little_endian = raw[1] & 1
    sec, nanosec = struct.unpack_from("<iI" if little_endian else ">iI", raw, 4)
    return sec * NS + nanosec or None


def default_policy(source: FeatureSource, fps: int) -> StreamPolicy:
    """Images: a frame at most 1.5 periods old, else drop; joint observations: hold (gaps over 0.1 s
    reported); actions: the nearest command within 2 periods, which may come just after the frame."""
    is_action = source.feature == "action"
    if source.is_image:
        mode, tolerance = "drop", 1.5 / fps
    elif is_action:
        mode, tolerance = "nearest", 2.0 / fps
    else:
        mode, tolerance = "hold", 0.1
    return StreamPolicy(source.sync or mode, source.tolerance or tolerance, future_allowed=is_action)


def read_streams(reader: BagReader, mapping: Mapping) -> dict[str, Stream]:
    """Pass 1 over a bag: every mapped stream's stamps, and the joint values."""
    by_topic: dict[str, list[FeatureSource]] = {}
    for source in mapping.features.values():
        by_topic.setdefault(source.topic, []).append(source)
    connections = [c for c in reader.connections if c.topic in by_topic]
    missing = sorted(set(by_topic) - {c.topic for c in connections})
    if missing:
        raise BagError(f"no message on mapped topic(s) {missing}")
    raw_samples: dict[str, dict[str, list]] = {
        s.feature: {"times": [], "receive": [], "values": [], "shape": None}
        for s in mapping.features.values()
    }
    for connection, receive_ns, raw in reader.messages(connections=connections):
        for source in by_topic[connection.topic]:
            if source.type != connection.msgtype:
                raise BagError(
                    f"{source.topic} carries {connection.msgtype}, the mapping expects {source.type}"
                )
            sample = raw_samples[source.feature]
            if source.is_image:
                stamp = header_stamp_ns(raw) if source.type in STAMPED_TYPES else None
                if sample["shape"] is None:
                    sample["shape"] = image_array(
                        reader.deserialize(raw, connection.msgtype), source.type
                    ).shape
            else:
                msg = reader.deserialize(raw, connection.msgtype)
                stamp = stamp_ns(msg)
                sample["values"].append(joint_values(msg, source.type, source.joints))
            sample["times"].append(stamp or receive_ns)
            sample["receive"].append(receive_ns)
    streams = {}
    for source in mapping.features.values():
        sample = raw_samples[source.feature]
        times = np.asarray(sample["times"], dtype=np.int64)
        order = np.argsort(times, kind="stable")
        topic_positions = np.arange(len(times))  # a feature's samples are its topic's messages, in bag order
        streams[source.feature] = Stream(
            source=source,
            times=times[order],
            receive_times=np.asarray(sample["receive"], dtype=np.int64)[order],
            positions=topic_positions[order],
            values=np.asarray(sample["values"], dtype=np.float64)[order] if not source.is_image else None,
            out_of_order=int(np.sum(np.diff(times) < 0)),
            shape=tuple(sample["shape"] or ()),
        )
    return streams


def dataset_features(mapping: Mapping, streams: dict[str, Stream]) -> dict[str, dict]:
    """The dataset features of a mapping; image sizes come from the recorded images."""
    features = {}
    for name, source in mapping.features.items():
        if source.is_image:
            features[name] = {
                "dtype": "video",
                "shape": list(streams[name].shape),
                "names": ["height", "width", "channels"],
            }
        else:
            features[name] = {"dtype": "float32", "shape": [len(source.joints)], "names": list(source.joints)}
    return features


def aligned_frames(
    reader: BagReader,
    streams: dict[str, Stream],
    alignment: Alignment,
    units: MappingUnits | None = None,
    first_segment: int = 0,
) -> Iterator[tuple[int, float, dict[str, np.ndarray]]]:
    """Pass 2: decode the images the kept frames use, in bag order, and yield the frames in time order as
    (segment, seconds since the segment's first frame, frame), from segment ``first_segment`` on.
    Joint values are converted from ROS units to the dataset's (``units``) before float32 rounding."""
    segments = alignment.segments[first_segment:]
    begin = segments[0][0] if segments else len(alignment.frame_times)
    frames = len(alignment.frame_times) - begin
    picks = {name: pick[begin:] for name, pick in alignment.picks.items()}
    times = alignment.frame_times[begin:]
    lengths = [b - a for a, b in segments]
    segment_of = np.repeat(np.arange(first_segment, first_segment + len(segments)), lengths)
    segment_start = np.repeat([alignment.frame_times[a] for a, _ in segments], lengths)
    units = units or MappingUnits()
    joints = {
        name: units.to_dataset(name, stream.values[picks[name]]).astype(np.float32)
        for name, stream in streams.items()
        if stream.values is not None
    }
    images = {name: stream for name, stream in streams.items() if stream.values is None}
    # bag position of the message each frame uses, per camera, and the last frame that uses each message
    wanted = {name: stream.positions[picks[name]] for name, stream in images.items()}
    last_use = {name: {int(p): k for k, p in enumerate(wanted[name])} for name in images}
    cache: dict[str, dict[int, np.ndarray]] = {name: {} for name in images}
    seen = dict.fromkeys(images, -1)
    topic_features: dict[str, list[str]] = {}
    for name, stream in images.items():
        topic_features.setdefault(stream.source.topic, []).append(name)
    next_frame = 0

    def ready() -> Iterator[tuple[int, float, dict[str, np.ndarray]]]:
        nonlocal next_frame
        while next_frame < frames and all(seen[n] >= wanted[n][next_frame] for n in images):
            frame = {name: values[next_frame] for name, values in joints.items()}
            for name in images:
                position = int(wanted[name][next_frame])
                frame[name] = cache[name][position]
                if last_use[name][position] == next_frame:
                    del cache[name][position]
            elapsed = (times[next_frame] - segment_start[next_frame]) / NS
            yield int(segment_of[next_frame]), float(elapsed), frame
            next_frame += 1

    connections = [c for c in reader.connections if c.topic in topic_features]
    topic_positions = dict.fromkeys(topic_features, -1)
    yield from ready()  # a dataset without cameras is complete already
    for connection, _, raw in reader.messages(connections=connections) if images and frames else ():
        topic_positions[connection.topic] += 1
        position = topic_positions[connection.topic]
        for name in topic_features[connection.topic]:
            seen[name] = position
            if position in last_use[name]:
                cache[name][position] = image_array(
                    reader.deserialize(raw, connection.msgtype), images[name].source.type
                )
        yield from ready()
    if next_frame != frames:
        raise BagError(
            f"only {next_frame} of {frames} frames could be assembled (images missing from the bag)"
        )


def is_bag(path: Path) -> bool:
    return (path / "metadata.yaml").is_file()


def expand_bags(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Bag folders from the arguments: a bag itself, or a folder whose sub-folders are bags (sorted)."""
    bags: list[Path] = []
    for path in map(Path, paths):
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist")
        if is_bag(path) or any(path.glob("*.mcap")) or any(path.glob("*.db3")):
            bags.append(path)
        else:
            found = sorted(p for p in path.iterdir() if p.is_dir())
            if not found:
                raise FileNotFoundError(f"{path} is neither a rosbag2 folder nor a folder of them")
            bags.extend(found)
    return bags


class ConvertedRegistry:
    """Which bags became which episodes (meta/lerobot_ros/converted.json), so that a rerun resumes.

    A bag gives one episode per segment (more than one when a gap split it). Its entry is written as pending
    before its first episode is saved and marked done after the last; a pending entry found later keeps the
    episodes the dataset holds (the crash came after their save): done if all are there, dropped if none is,
    else the rerun converts only the segments still missing (``saved`` says how many are in the dataset).
    """

    def __init__(self, root: Path) -> None:
        self.path = root / CONVERTED_FILE
        self.entries: dict[str, dict] = json.loads(self.path.read_text()) if self.path.is_file() else {}

    def settle(self, num_episodes: int) -> None:
        for bag, entry in list(self.entries.items()):
            if entry["state"] == "pending":
                saved = min(max(num_episodes - entry["episode_index"], 0), entry.get("episodes", 1))
                if saved == entry.get("episodes", 1):
                    entry["state"] = "done"
                elif saved:
                    entry["saved"] = saved
                else:
                    del self.entries[bag]
        self._save()

    def done(self, bag: Path) -> int | None:
        entry = self.entries.get(str(bag.resolve()))
        return entry["episode_index"] if entry and entry["state"] == "done" else None

    def saved(self, bag: Path) -> int:
        """Episodes of ``bag`` the dataset holds from a run that was killed while converting it."""
        entry = self.entries.get(str(bag.resolve()))
        return entry.get("saved", 0) if entry and entry["state"] == "pending" else 0

    def mark(self, bag: Path, episode_index: int, state: str, episodes: int = 1, saved: int = 0) -> None:
        """``episode_index``: the bag's first episode; ``episodes``: their count; ``saved``: how many are
        saved so far."""
        entry = {"episode_index": episode_index, "episodes": episodes, "state": state}
        self.entries[str(bag.resolve())] = entry | ({"saved": saved} if state == "pending" else {})
        self._save()

    def abandon(self, bag: Path) -> int:
        """A bag that failed mid-way: its episodes saved so far stay (the entry keeps only them); returns
        their count."""
        key = str(bag.resolve())
        entry = self.entries.get(key)
        if not entry or entry["state"] != "pending":
            return 0
        saved = entry.get("saved", 0)
        if saved:
            self.entries[key] = {"episode_index": entry["episode_index"], "episodes": saved, "state": "done"}
        else:
            del self.entries[key]
        self._save()
        return saved

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.entries, indent=1))
        os.replace(temporary, self.path)


def open_dataset(root: Path, mapping: Mapping, features: dict[str, dict], video: VideoEncoderConfig | None):
    """The writer of ``root``: appended to if it exists (made with the same mapping), created otherwise."""
    if (root / "meta" / "info.json").is_file():
        writer = DatasetWriter.append(root, video=video)
        stored = root / DATASET_MAPPING_FILE
        if stored.is_file() and parse_mapping(stored.read_text()).features != mapping.features:
            writer.close()
            raise MappingError(
                f"{root} was converted with another mapping ({stored}); convert into a new dataset instead"
            )
        existing = {k: {"dtype": v["dtype"], "shape": list(v["shape"])} for k, v in writer.features.items()}
        mismatched = [
            k for k, ft in features.items() if existing.get(k) != {"dtype": ft["dtype"], "shape": ft["shape"]}
        ]
        if mismatched:
            writer.close()
            raise MappingError(f"{root} has other features than these bags for {mismatched}")
    else:
        writer = DatasetWriter.create(
            root, fps=mapping.fps, features=features, robot_type=mapping.robot_type, video=video
        )
    (root / DATASET_MAPPING_FILE).parent.mkdir(parents=True, exist_ok=True)
    (root / DATASET_MAPPING_FILE).write_text(mapping.source_text)
    return writer


@dataclass
class ConversionResult:
    root: Path
    reports: list[EpisodeReport] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)  # bag, why
    salvaged: list[tuple[Path, str]] = field(default_factory=list)  # bag, what (converted as far as it goes)
    already: list[Path] = field(default_factory=list)  # converted by an earlier run


# What makes a bag skipped rather than the conversion stopped.
BAG_ERRORS = (
    BagError,
    SyncError,
    MessageError,
    MappingError,
    DatasetError,
    AnyReaderError,
    ReaderError,
    SalvageError,
    UnknownMessageType,
    OSError,
)


@dataclass
class PreparedBag:
    """A bag's mapping, task, streams and alignment (pass 1), ready to be written."""

    mapping: Mapping
    task: str
    units: MappingUnits
    streams: dict[str, Stream]
    alignment: Alignment
    note: str = ""  # what was salvaged, and the mapping used when the bag stores none

    @property
    def features(self) -> dict[str, dict]:
        return dataset_features(self.mapping, self.streams)

    def report(self, bag: Path, episode_index: int) -> EpisodeReport:
        frames = len(self.alignment.frame_times)
        return EpisodeReport(bag, episode_index, frames, self.mapping.fps, self.alignment, self.streams)


# The mapping a salvaged bag that stores none is converted with, and where it comes from.
RunMapping = tuple[Mapping, str]


@dataclass(frozen=True)
class BagOptions:
    """How every bag of a run is converted (see convert_bags)."""

    mapping: Mapping | None
    task: str | None
    fallback: RunMapping | None
    max_fill: int = DEFAULT_MAX_FILL

    def prepare(self, opened: OpenedBag, bag: Path) -> PreparedBag:
        return prepare_bag(opened, bag, self.mapping, self.task, self.fallback, self.max_fill)


def prepare_bag(
    opened: OpenedBag,
    bag: Path,
    mapping: Mapping | None,
    task: str | None,
    fallback: RunMapping | None,
    max_fill: int = DEFAULT_MAX_FILL,
) -> PreparedBag:
    """Pass 1 of one bag: its mapping (given, else stored, else ``fallback`` for a salvaged bag), task, unit
    conversions, streams and alignment (``max_fill``: see lerobot_recorder.sync)."""
    custom, note = opened.custom, opened.salvaged
    if mapping is None and "lerobot.mapping" not in custom and opened.salvaged and fallback is not None:
        mapping = fallback[0]
        note += f"; the bag stores no mapping: converted with that of {fallback[1]}"
    bag_map = mapping or _stored_mapping(custom, bag)
    units = mapping_units(bag_map)
    streams = read_streams(opened.reader, bag_map)
    policies = {name: default_policy(s.source, bag_map.fps) for name, s in streams.items()}
    alignment = align({name: s.times for name, s in streams.items()}, bag_map.fps, policies, max_fill)
    slow = slow_streams(streams, bag_map.fps)
    if not len(alignment.frame_times):
        rates = "".join(f"; {name} ran at {rate:.1f} Hz" for name, rate in slow.items())
        raise BagError(
            f"every frame was cut: no stretch of at least {MIN_EPISODE_S} s had a sample of every camera and "
            f"action within its tolerance{rates} (the dataset is {bag_map.fps} fps): record with faster "
            "cameras, or set a longer 'tolerance' for the feature in the mapping"
        )
    for name, rate in slow.items():
        logger.warning(
            "%s: %s ran at %.1f Hz, below the dataset's %d fps (see its sync report)",
            *(bag, name, rate, bag_map.fps),
        )
    task = task or custom.get("lerobot.task") or bag_map.task
    return PreparedBag(bag_map, task, units, streams, alignment, note)


def run_mapping(root: Path, bags: list[Path]) -> RunMapping | None:
    """The mapping for salvaged bags that store none: the dataset's, else the first bag's that stores one."""
    stored = root / DATASET_MAPPING_FILE
    if stored.is_file():
        return parse_mapping(stored.read_text(), where=str(stored)), f"the dataset ({stored})"
    for bag in bags:
        try:
            metadata = bag_metadata(bag)
            if metadata and "lerobot.mapping" in metadata.custom:
                return _stored_mapping(metadata.custom, bag), f"bag {bag}"
        except (BagError, MappingError, OSError):
            continue  # that bag's own problem is reported when its turn comes
    return None


def convert_bags(
    bags: Iterable[str | os.PathLike[str]],
    output: str | os.PathLike[str],
    mapping: Mapping | None = None,
    task: str | None = None,
    video: VideoEncoderConfig | None = None,
    progress: bool = True,
    workers: int = 1,
    max_fill: int = DEFAULT_MAX_FILL,
) -> ConversionResult:
    """Convert episode bags into the dataset at ``output`` (created, or appended to); see the module doc.

    ``mapping`` defaults to the one each bag stores; ``task`` to the bag's task, then the mapping's.
    ``workers`` > 1 converts that many bags at once, one process each (capped by the bag count).
    ``max_fill``: grid frames a stream may miss in a row and be filled; a longer gap splits the episode.
    """
    root = Path(output)
    result = ConversionResult(root)
    registry = ConvertedRegistry(root)
    todo = []
    for bag in expand_bags(bags):
        if registry.done(bag) is not None:
            result.already.append(bag)
        else:
            todo.append(bag)
    remove_stale(root)  # scratch folders of a parallel run that was killed, whatever this run's workers
    workers = min(workers, len(todo))
    bag_options = BagOptions(mapping, task, None if mapping else run_mapping(root, todo), max_fill)
    if workers > 1:
        _convert_parallel(todo, root, bag_options, video, progress, workers, registry, result)
    else:
        _convert_sequential(todo, root, bag_options, video, progress, registry, result)
    return result


def _converted(result: ConversionResult, report: EpisodeReport, note: str) -> None:
    write_report(report, result.root / REPORTS_DIR, note)
    result.reports.append(report)
    if note:
        logger.warning("%s: %s", report.bag, note)
        result.salvaged.append((report.bag, note))


def _skipped(result: ConversionResult, registry: ConvertedRegistry, bag: Path, error: Exception) -> None:
    reason = str(error)
    saved = registry.abandon(bag)
    if saved:  # a split bag: the episodes before the failure are in the dataset (lerobot can delete them)
        reason += f"; its first {saved} episode(s), before a gap, were converted"
    logger.warning("skipped %s: %s", bag, reason)
    result.skipped.append((bag, reason))


def _convert_sequential(
    bags: list[Path],
    root: Path,
    options: BagOptions,
    video: VideoEncoderConfig | None,
    progress: bool,
    registry: ConvertedRegistry,
    result: ConversionResult,
) -> None:
    writer: DatasetWriter | None = None
    try:
        for bag in show_progress(bags, len(bags), "bags", "bag", enabled=progress):
            try:
                with open_bag(bag) as opened:
                    prepared = options.prepare(opened, bag)
                    if writer is None:
                        writer = open_dataset(root, prepared.mapping, prepared.features, video)
                        registry.settle(writer.num_episodes)
                    skip = registry.saved(bag)  # episodes a killed run saved already
                    first = writer.num_episodes - skip
                    count = len(prepared.alignment.segments)
                    registry.mark(bag, first, "pending", count, skip)
                    frames = aligned_frames(
                        opened.reader, prepared.streams, prepared.alignment, prepared.units, skip
                    )
                    segment = skip
                    for frame_segment, elapsed, frame in frames:
                        if frame_segment != segment:
                            writer.save_episode()
                            registry.mark(bag, first, "pending", count, frame_segment)
                            segment = frame_segment
                        writer.add_frame(frame, task=prepared.task, timestamp=elapsed)
                    writer.save_episode()
                    registry.mark(bag, first, "done", count)
            except BAG_ERRORS as error:
                if writer is not None:
                    writer.discard_episode()
                _skipped(result, registry, bag, error)
                continue
            _converted(result, prepared.report(bag, first), prepared.note)
    finally:
        if writer is not None:
            writer.close()


@dataclass
class EncodedBag:
    """What a worker process sends back: one one-episode dataset per segment, or why the bag was skipped."""

    bag: Path
    folders: list[Path] = field(default_factory=list)
    mapping: Mapping | None = None
    features: dict[str, dict] | None = None
    report: EpisodeReport | None = None
    note: str = ""
    error: str = ""


def encode_bag(bag: Path, options: BagOptions, video: VideoEncoderConfig, folder: Path) -> EncodedBag:
    """A worker's job: the bag converted into new one-episode datasets in ``folder``, one per segment."""
    writer: DatasetWriter | None = None
    folders: list[Path] = []
    try:
        with open_bag(bag) as opened:
            prepared = options.prepare(opened, bag)
            features, mapping = prepared.features, prepared.mapping
            frames = aligned_frames(opened.reader, prepared.streams, prepared.alignment, prepared.units)
            for segment, elapsed, frame in frames:
                if len(folders) <= segment:
                    if writer is not None:
                        writer.save_episode()
                        writer.close()
                    folders.append(folder / f"{segment:06d}")
                    writer = DatasetWriter.create(
                        folders[-1], fps=mapping.fps, features=features, robot_type=mapping.robot_type,
                        video=video,
                    )  # fmt: skip
                writer.add_frame(frame, task=prepared.task, timestamp=elapsed)
            writer.save_episode()
            writer.close()
    except BAG_ERRORS as error:  # sent back as text: some of these exceptions do not survive pickling
        if writer is not None:
            writer.close()
        shutil.rmtree(folder, ignore_errors=True)
        return EncodedBag(bag, error=str(error))
    return EncodedBag(bag, folders, mapping, features, prepared.report(bag, -1), prepared.note)


def _convert_parallel(
    bags: list[Path],
    root: Path,
    options: BagOptions,
    video: VideoEncoderConfig | None,
    progress: bool,
    workers: int,
    registry: ConvertedRegistry,
    result: ConversionResult,
) -> None:
    if video is None:  # the workers encode as the dataset's own videos are (what appending one process does)
        if (root / "meta" / "info.json").is_file():
            with DatasetWriter.append(root) as writer:
                video = writer.video
        else:
            video = VideoEncoderConfig()
    # Beside the output (same filesystem: the encoded videos are moved, not copied); removed at the end, or
    # by the next run when this one is killed.
    with scratch_folder(root) as scratch:
        # spawn: a forked child would inherit the parent's threads and FFmpeg state (encoders are threaded).
        pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=worker_dies_with_parent,
            initargs=(os.getpid(),),
        )
        writer: DatasetWriter | None = None
        try:
            futures = [
                pool.submit(encode_bag, bag, options, video, scratch / f"{i:06d}")
                for i, bag in enumerate(bags)
            ]
            # appended in bag order, whichever worker finishes first
            in_order = zip(bags, futures, strict=True)
            for bag, future in show_progress(in_order, len(bags), "bags", "bag", enabled=progress):
                try:
                    encoded = future.result()
                except BrokenProcessPool as error:
                    encoded = EncodedBag(bag, error=f"the worker process converting it died ({error})")
                try:
                    if encoded.error:
                        raise BagError(encoded.error)
                    if writer is None:
                        writer = open_dataset(root, encoded.mapping, encoded.features, video)
                        registry.settle(writer.num_episodes)
                    skip = registry.saved(bag)  # episodes a killed run saved already
                    first, count = writer.num_episodes - skip, len(encoded.folders)
                    for segment in range(skip, count):
                        registry.mark(bag, first, "pending", count, segment)
                        writer.append_encoded_episode(encoded.folders[segment])
                    registry.mark(bag, first, "done", count)
                except BAG_ERRORS as error:
                    _skipped(result, registry, bag, error)
                    continue
                finally:
                    if encoded.folders:
                        shutil.rmtree(encoded.folders[0].parent, ignore_errors=True)
                _converted(result, replace(encoded.report, episode_index=first), encoded.note)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if writer is not None:
                writer.close()


def _stored_mapping(custom: dict[str, str], bag: Path) -> Mapping:
    if "lerobot.mapping" not in custom:
        raise MappingError(
            f"{bag} stores no mapping (not recorded by lerobot_recorder, or the recorder was killed before "
            "storing it): pass --mapping, or convert it together with bags that store one"
        )
    return parse_mapping(custom["lerobot.mapping"], where=f"{bag} (stored mapping)")
