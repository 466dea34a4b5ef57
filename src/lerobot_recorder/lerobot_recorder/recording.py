"""Episode recording into rosbag2 folders, one per episode, without ROS.

Messages arrive already serialized (the node subscribes raw, so nothing is decoded on the hot path) and are
handed to a writer thread through a queue bounded in bytes: a slow disk costs counted drops, never unbounded
memory or a stalled executor. The mapping and the task are stored in the bag's metadata (`custom_data`).

A killed recorder loses at most ``flush_interval`` seconds: the writer closes the MCAP chunk (or commits the
sqlite3 transaction) that often, and stores the custom data in the storage file as soon as it opens it, so
that a bag that never got its metadata.yaml can still be converted (lerobot_recorder.salvage reads both).
A write error (disk full) ends the episode's writing; what is on disk is left as it is, for salvage.
A camera whose messages arrive slower than the mapping's fps is warned about in the status while recording
and in the episode's summary (the converter would have to fill or split its frames).
"""

from __future__ import annotations

import contextlib
import enum
import shutil
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path
from queue import Empty, SimpleQueue

import yaml
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.rosbag2.storage_mcap import McapWriter, write_record, write_string
from rosbags.typesys.store import Typestore

from lerobot_dataset.mapping import Mapping
from lerobot_recorder.msgdefs import typestore_for
from lerobot_recorder.sync import below_fps

# rosbag2 metadata version 8 is what Jazzy writes; Jazzy, Kilted and rosbags read it. Humble's tools need
# `ros2 bag reindex` for bags of newer distros (rosbag2 only keeps backward compatibility).
BAG_VERSION = 8
STORAGE_PLUGINS = {"mcap": StoragePlugin.MCAP, "sqlite3": StoragePlugin.SQLITE3}
EPISODE_PREFIX = "episode_"
RATE_WINDOW_S = 1.0
MCAP_METADATA = 0x0C  # MCAP record opcode of a Metadata record


class State(enum.IntEnum):
    """Recorder states; the values are those of lerobot_msgs/RecorderStatus."""

    IDLE = 0
    RECORDING = 1
    SAVING = 2
    ERROR = 3


class RecorderError(RuntimeError):
    """A request the recorder cannot honour in its current state; the message says why."""


@dataclass
class TopicStats:
    received: int = 0
    dropped: int = 0
    last_receive: float | None = None
    recent: deque[float] = field(default_factory=deque)
    arrivals: int = 0  # messages that reached put() in this episode, recorded or dropped
    first_receive: float | None = None

    def rate(self, now: float) -> float:
        while self.recent and self.recent[0] < now - RATE_WINDOW_S:
            self.recent.popleft()
        return len(self.recent) / RATE_WINDOW_S

    def episode_rate(self) -> float | None:
        """Messages per second since the first of the episode; None before a rate window has passed."""
        if self.first_receive is None or self.last_receive - self.first_receive < RATE_WINDOW_S:
            return None
        return (self.arrivals - 1) / (self.last_receive - self.first_receive)

    def age(self, now: float) -> float:
        return -1.0 if self.last_receive is None else now - self.last_receive


@dataclass(frozen=True)
class TopicSnapshot:
    topic: str
    received: int
    dropped: int
    rate: float
    age: float


@dataclass(frozen=True)
class Status:
    state: State
    profile: str
    episode_index: int
    task: str
    bag_path: str
    elapsed: float
    episodes_saved: int
    topics: tuple[TopicSnapshot, ...]
    message: str


@dataclass(frozen=True)
class EpisodeSummary:
    episode_index: int
    bag_path: Path
    duration: float
    message_count: int
    dropped: int
    silent: tuple[str, ...] = ()  # topics that sent nothing in the episode
    error: str = ""  # why the bag is incomplete (the writing failed); empty when it was saved whole
    slow: tuple[tuple[str, float], ...] = ()  # cameras (topic, Hz) that ran below the mapping's fps
    fps: int = 0  # the mapping's


def episode_folder(output_dir: Path, index: int) -> Path:
    return output_dir / f"{EPISODE_PREFIX}{index:06d}"


def next_episode_index(output_dir: Path) -> int:
    """One past the highest episode in ``output_dir`` (half-written ones count: none is overwritten)."""
    indices = [
        int(p.name[len(EPISODE_PREFIX) :])
        for p in output_dir.glob(f"{EPISODE_PREFIX}*")
        if p.is_dir() and p.name[len(EPISODE_PREFIX) :].isdigit()
    ]
    return max(indices, default=-1) + 1


class EpisodeRecorder:
    """Records episodes of a mapping's topics; thread-safe (ROS callbacks, services and keys call it)."""

    def __init__(
        self,
        output_dir: Path,
        mapping: Mapping,
        storage: str | None = None,
        max_queue_bytes: int = 512 * 2**20,
        flush_interval: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.output_dir = Path(output_dir)
        self.mapping = mapping
        self.storage = storage or mapping.storage
        if self.storage not in STORAGE_PLUGINS:
            raise ValueError(f"storage must be one of {sorted(STORAGE_PLUGINS)}, got {self.storage!r}")
        self.max_queue_bytes = max_queue_bytes
        if flush_interval <= 0:
            raise ValueError(f"flush_interval must be > 0 s, got {flush_interval}")
        self.flush_interval = flush_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._state = State.IDLE
        self._message = "ready"
        self._task = mapping.task
        self._episode_index = next_episode_index(self.output_dir)
        self._episodes_saved = 0
        self._last_saved: Path | None = None
        self.last_summary: EpisodeSummary | None = None  # of the last episode stopped
        self._stats: dict[str, TopicStats] = {}
        self._cameras = {s.topic for s in mapping.features.values() if s.is_image}
        self._thread: threading.Thread | None = None
        self._queue: SimpleQueue = SimpleQueue()
        self._queued_bytes = 0
        self._written = 0
        self._write_error = ""
        self._started_at = 0.0

    # -- episode control -------------------------------------------------------------------------------------

    def start(self, topics: dict[str, tuple[str, str | None]], task: str = "") -> tuple[int, Path]:
        """Start an episode recording ``topics`` (topic → (message type, RIHS01 type hash or None))."""
        with self._lock:
            if self._episode_open():
                raise RecorderError(
                    f"episode {self._episode_index} is already being recorded: stop or discard it"
                )
            if not topics:
                raise RecorderError(
                    "no topic to record: check the mapping and that the publishers are running"
                )
            self._episode_index = max(self._episode_index, next_episode_index(self.output_dir))
            path = episode_folder(self.output_dir, self._episode_index)
            try:
                self.output_dir.mkdir(parents=True, exist_ok=True)
            except OSError as error:
                raise RecorderError(
                    f"cannot create the output folder {self.output_dir} ({error.strerror}): "
                    "set output_dir to a folder this user can write"
                ) from error
            task = task or self.mapping.task
            typestore = typestore_for({msgtype for msgtype, _ in topics.values()})
            custom_data = {
                "lerobot.mapping": self.mapping.source_text,
                "lerobot.task": task,
                "lerobot.episode_index": str(self._episode_index),
            }
            # The writer thread owns the bag from open to close (sqlite3 connections are bound to one thread).
            opened = threading.Event()
            failures: list[Exception] = []
            self._thread = threading.Thread(
                target=self._write_loop,
                args=(path, topics, typestore, custom_data, opened, failures),
                name="bag-writer",
                daemon=True,
            )
            self._thread.start()
            opened.wait()
            if failures:
                self._thread.join()
                raise RecorderError(
                    f"cannot create the bag {path} ({failures[0]}): set output_dir to a writable folder"
                ) from failures[0]
            self._stats = {topic: TopicStats() for topic in topics}
            self._queued_bytes = 0
            self._written = 0
            self._write_error = ""
            self._task = task
            self._started_at = self._clock()
            self._state = State.RECORDING
            self._message = f"recording episode {self._episode_index}: {task}"
            return self._episode_index, path

    def put(self, topic: str, timestamp_ns: int, data: bytes) -> bool:
        """Queue one serialized message; False when it was not recorded (idle, unknown topic, or dropped)."""
        now = self._clock()
        with self._lock:
            stats = self._stats.get(topic)
            if stats is None or not self._episode_open():
                return False
            if stats.first_receive is None:
                stats.first_receive = now
            stats.last_receive = now
            stats.arrivals += 1
            stats.recent.append(now)
            if self._state == State.ERROR or self._queued_bytes + len(data) > self.max_queue_bytes:
                stats.dropped += 1
                return False
            stats.received += 1
            self._queued_bytes += len(data)
            self._queue.put((topic, timestamp_ns, data))
            return True

    def count_lost(self, topic: str, count: int) -> None:
        """Messages the middleware reports lost before they reached us (counted as drops while recording)."""
        with self._lock:
            if topic in self._stats and self._episode_open():
                self._stats[topic].dropped += count

    def stop(self) -> EpisodeSummary:
        """Finish the episode: flush the queue, close the bag, keep it (an incomplete one too: ``error``)."""
        path = self._finish("stop")
        with self._lock:
            summary = EpisodeSummary(
                episode_index=self._episode_index,
                bag_path=path,
                duration=self._clock() - self._started_at,
                message_count=self._written,
                dropped=sum(s.dropped for s in self._stats.values()),
                silent=tuple(t for t, s in sorted(self._stats.items()) if not s.received and not s.dropped),
                error=self._write_error,
                slow=self._slow_cameras(),
                fps=self.mapping.fps,
            )
            self.last_summary = summary
            self._episodes_saved += 1
            self._last_saved = path
            self._episode_index += 1
            if summary.error:  # the error stays visible until the next start
                return summary
            self._state = State.IDLE
            self._message = f"saved {describe(summary)}"
        return summary

    def discard(self) -> int:
        """Delete the episode being recorded or, when idle, the last saved one; its index is reused."""
        with self._lock:
            recording = self._episode_open()
            if not recording and self._last_saved is None:
                raise RecorderError(
                    "nothing to discard: no episode is being recorded or was saved in this session"
                )
        if recording:
            path = self._finish("discard")
            index = self._episode_index
        else:
            with self._lock:
                path, self._last_saved = self._last_saved, None
                self._episodes_saved -= 1
                index = self._episode_index = self._episode_index - 1
        shutil.rmtree(path, ignore_errors=True)
        with self._lock:
            self._state = State.IDLE
            self._message = f"discarded episode {index}"
        return index

    def _finish(self, verb: str) -> Path:
        with self._lock:
            if not self._episode_open():
                raise RecorderError(f"cannot {verb}: no episode is being recorded")
            if self._state == State.RECORDING:
                self._state = State.SAVING
            thread = self._thread
        assert thread is not None
        self._queue.put(None)
        thread.join()
        return episode_folder(self.output_dir, self._episode_index)

    def _write_loop(
        self,
        path: Path,
        topics: dict[str, tuple[str, str | None]],
        typestore: Typestore,
        custom_data: dict[str, str],
        opened: threading.Event,
        failures: list[Exception],
    ) -> None:
        # Any failure of the bag library must reach the operator as a status, never end the thread silently.
        try:
            writer = Writer(path, version=BAG_VERSION, storage_plugin=STORAGE_PLUGINS[self.storage])
            for key, value in custom_data.items():
                writer.set_custom_data(key, value)
            writer.open()
            _store_custom_data(writer, custom_data)
            connections = {
                topic: writer.add_connection(topic, msgtype, typestore=typestore, rihs01=rihs01)
                for topic, (msgtype, rihs01) in sorted(topics.items())
            }
            _flush(writer)
        except Exception as error:  # handed to start(), which raises it
            failures.append(error)
            return
        finally:
            opened.set()
        failed = False
        unflushed: list[str] = []  # topics of the messages written since the last flush
        next_flush = time.monotonic() + self.flush_interval
        while (item := self._next(next_flush)) is not None:
            try:
                if item and not failed:
                    writer.write(connections[item[0]], item[1], item[2])
                    unflushed.append(item[0])
                if not failed and time.monotonic() >= next_flush:
                    _flush(writer)
                    self._count_written(unflushed)
                    next_flush = time.monotonic() + self.flush_interval
            except Exception as error:  # disk full, folder removed: stop writing, keep what is on disk
                failed = True
                self._fail(
                    f"cannot write the bag {path} ({error}); it is incomplete: what was written before is "
                    "kept there (convert salvages it). Free disk space, then start a new episode"
                )
            if item:
                with self._lock:
                    self._queued_bytes -= len(item[2])
            if failed:  # what was not flushed is lost with the rest of the episode
                self._count_lost([*unflushed, *item[:1]])
                unflushed.clear()
        if failed:
            with contextlib.suppress(OSError):  # flushing the cut file may fail again: it is closed anyway
                writer.abort()
            return
        try:
            if not isinstance(writer.storage, McapWriter):  # a closed sqlite3 bag keeps one metadata row
                writer.storage.cursor.execute("DELETE FROM metadata")
            writer.close()
            self._count_written(unflushed)
        except Exception as error:  # the episode is over either way: report it
            self._count_lost(unflushed)
            self._fail(
                f"cannot close the bag {path} ({error}); it is incomplete: what was written is kept there "
                "(convert salvages it). Free disk space, then start a new episode"
            )

    def _next(self, flush_at: float) -> tuple | None:
        """The next queued message; () when none came before ``flush_at``; None at the end of the episode."""
        try:
            return self._queue.get(timeout=max(0.0, flush_at - time.monotonic()))
        except Empty:
            return ()

    def _count_written(self, topics: list[str]) -> None:
        with self._lock:
            self._written += len(topics)
        topics.clear()

    def _count_lost(self, topics: list[str]) -> None:
        with self._lock:
            for topic in topics:
                self._stats[topic].dropped += 1

    def episode_open(self) -> bool:
        """True from start() to the end of stop() or discard() (recording, saving, or failed mid-episode)."""
        with self._lock:
            return self._episode_open()

    def _episode_open(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _slow_cameras(self) -> tuple[tuple[str, float], ...]:
        """(topic, Hz) of the cameras whose messages arrive slower than the mapping's fps in this episode."""
        cameras = sorted(self._cameras & set(self._stats))
        rates = {topic: self._stats[topic].episode_rate() for topic in cameras}
        return tuple((t, r) for t, r in rates.items() if r is not None and below_fps(r, self.mapping.fps))

    def _fail(self, message: str) -> None:
        with self._lock:
            self._state = State.ERROR
            self._message = self._write_error = message

    # -- status ----------------------------------------------------------------------------------------------

    def set_task(self, task: str) -> None:
        with self._lock:
            self._task = task

    def status(self) -> Status:
        now = self._clock()
        with self._lock:
            recording = self._episode_open()
            message = self._message
            if self._state == State.RECORDING and (slow := self._slow_cameras()):
                message += "; " + slow_warning(slow, self.mapping.fps)
            return Status(
                state=self._state,
                profile=self.mapping.name,
                episode_index=self._episode_index,
                task=self._task,
                bag_path=str(
                    episode_folder(self.output_dir, self._episode_index)
                    if recording
                    else self._last_saved or ""
                ),
                elapsed=now - self._started_at if recording else 0.0,
                episodes_saved=self._episodes_saved,
                topics=tuple(
                    TopicSnapshot(topic, s.received, s.dropped, s.rate(now), s.age(now))
                    for topic, s in sorted(self._stats.items())
                ),
                message=message,
            )


def slow_warning(slow: tuple[tuple[str, float], ...], fps: int) -> str:
    """The warning about cameras (topic, Hz) slower than the mapping's ``fps``."""
    rates = ", ".join(f"{topic} ran at {rate:.1f} Hz" for topic, rate in slow)
    return (
        f"WARNING: {rates}, below the mapping's {fps} fps: the converter fills the frames it misses or "
        "splits the episode where it lags; lower the camera's resolution (the sim's image_width/"
        "image_height) or load, or the mapping's fps"
    )


def describe(summary: EpisodeSummary) -> str:
    """'episode 3: 12.0 s, 4000 messages, 0 dropped', with a warning naming the topics that sent nothing."""
    text = (
        f"episode {summary.episode_index}: {summary.duration:.1f} s, "
        f"{summary.message_count} messages, {summary.dropped} dropped"
    )
    if summary.silent:
        text += (
            f"; WARNING: nothing was recorded from {', '.join(summary.silent)}: check that its publisher "
            "runs and sends the type the mapping names"
        )
    if summary.slow:
        text += "; " + slow_warning(summary.slow, summary.fps)
    return text


def _store_custom_data(writer: Writer, custom_data: dict[str, str]) -> None:
    """Store the custom data in the storage file now: rosbags only writes it (and metadata.yaml) on close,
    which a killed recorder never reaches. The closed bag's own copy comes last and supersedes this one."""
    text = yaml.safe_dump({"custom_data": custom_data})
    storage_writer = writer.storage
    if isinstance(storage_writer, McapWriter):
        record, entries = BytesIO(), BytesIO()
        write_string(record, "rosbag2")
        write_string(entries, "serialized_metadata")
        write_string(entries, text)
        record.write(len(entries.getvalue()).to_bytes(4, "little"))
        record.write(entries.getvalue())
        write_record(storage_writer.bio, MCAP_METADATA, record)
    else:
        storage_writer.cursor.execute(
            "INSERT INTO metadata(metadata_version, metadata) VALUES(?, ?)", (BAG_VERSION, text)
        )


def _flush(writer: Writer) -> None:
    """Make every message written so far readable from the file after a kill (not a power loss: no fsync)."""
    storage_writer = writer.storage
    if isinstance(storage_writer, McapWriter):
        if storage_writer.chunk.msgs:
            storage_writer.close_chunk()
        storage_writer.bio.flush()
    else:
        storage_writer.conn.commit()


def format_progress(status: Status) -> str:
    """One terminal line: episode, state, duration, per-topic rates and drops."""
    head = {
        State.IDLE: f"episode {status.episode_index} ready",
        State.RECORDING: f"● REC episode {status.episode_index} {status.elapsed:6.1f} s",
        State.SAVING: f"saving episode {status.episode_index}",
        State.ERROR: "ERROR",
    }[status.state]
    rates = " | ".join(f"{t.topic} {t.rate:5.1f} Hz" for t in status.topics)
    drops = sum(t.dropped for t in status.topics)
    return (
        f"{head} | {rates} | drops {drops} | saved {status.episodes_saved}"
        if rates
        else f"{head} | {status.message}"
    )
