"""Reading rosbag2 episodes that were never closed, without ROS.

A recorder killed mid-episode leaves no metadata.yaml, and an MCAP file without its summary and footer, which
rosbags' reader needs. Here MCAP records are read in file order up to the last complete one; a chunk cut short
keeps its complete messages when it is not compressed. A sqlite3 database left with a journal or WAL beside it
is opened on a copy, so that SQLite settles the transaction the kill interrupted (only committed rows count).
What metadata.yaml would have said (topics, types, counts, start and duration) is rebuilt from what was read.
"""

from __future__ import annotations

import mmap
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from rosbags.rosbag2.errors import ReaderError
from rosbags.rosbag2.storage_mcap import decompress
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.base import TypesysError

from lerobot_recorder.msgdefs import typestore_for

MAGIC = b"\x89MCAP0\r\n"
# MCAP opcodes (https://mcap.dev/spec): the records a salvage reads; the summary section is never reached.
FOOTER, SCHEMA, CHANNEL, MESSAGE, CHUNK, METADATA, DATA_END = 0x02, 0x03, 0x04, 0x05, 0x06, 0x0C, 0x0F
MESSAGE_HEADER = struct.Struct("<HIQQ")  # channel id, sequence, log time, publish time
CHUNK_HEADER = struct.Struct("<QQQI")  # message start and end time, uncompressed size, uncompressed CRC


class SalvageError(RuntimeError):
    """A storage file with nothing readable; the message names the file and the reason."""


@dataclass
class StoredMetadata:
    """What conversion reads of rosbag2 metadata: the custom data, and the duration when it is there."""

    custom: dict[str, str]
    duration_ns: int = 0


def parse_metadata(text: str, where: str) -> StoredMetadata:
    """Rosbag2 metadata YAML: a metadata.yaml, or the copy a storage file keeps inside (without the
    top-level key). Raises SalvageError saying what is wrong with ``where``."""
    try:
        metadata = yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        at = f"line {error.problem_mark.line + 1}" if error.problem_mark else "somewhere"
        raise SalvageError(f"{where} is not valid YAML ({error.problem} at {at})") from None
    except yaml.YAMLError as error:
        raise SalvageError(f"{where} is not valid YAML ({' '.join(str(error).split())})") from None
    if isinstance(metadata, dict):
        metadata = metadata.get("rosbag2_bagfile_information", metadata)
    custom = metadata.get("custom_data") if isinstance(metadata, dict) else None
    if not isinstance(metadata, dict) or not isinstance(custom or {}, dict):
        raise SalvageError(f"{where} is not rosbag2 metadata (a mapping of rosbag2_bagfile_information)")
    duration = metadata.get("duration")
    duration_ns = duration.get("nanoseconds") if isinstance(duration, dict) else 0
    custom = {str(k): str(v) for k, v in (custom or {}).items()}
    return StoredMetadata(custom, duration_ns if isinstance(duration_ns, int) else 0)


@dataclass(frozen=True)
class Channel:
    """A topic of a salvaged MCAP file (what convert reads of a rosbags connection)."""

    id: int
    topic: str
    msgtype: str


@dataclass
class BagSummary:
    """What a bag's metadata.yaml says about its messages, or would have said."""

    topics: dict[str, tuple[str, int]] = field(default_factory=dict)  # topic → (type, messages)
    start_ns: int = 0
    end_ns: int = 0  # the last message's time

    @property
    def messages(self) -> int:
        return sum(count for _, count in self.topics.values())

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) / 1e9 if self.messages else 0.0

    def text(self) -> str:
        topics = ", ".join(f"{t} ({msgtype}: {n})" for t, (msgtype, n) in sorted(self.topics.items()))
        return f"{self.messages} messages over {self.duration_s:.2f} s from {self.start_ns} ns: {topics}"


def _string(buf: bytes, pos: int) -> tuple[str, int]:
    (size,) = struct.unpack_from("<I", buf, pos)
    return buf[pos + 4 : pos + 4 + size].decode(), pos + 4 + size


def _records(buf: bytes | mmap.mmap, pos: int) -> Iterator[tuple[int, int, int]]:
    """(opcode, body start, body end) of the records from ``pos``; the last one's end may lie past ``buf``."""
    while pos + 9 <= len(buf):
        op, length = struct.unpack_from("<BQ", buf, pos)
        yield op, pos + 9, pos + 9 + length
        pos += 9 + length


class McapSalvageReader:
    """The complete records of an MCAP file, in file order, whether or not it was closed.

    Offers what conversion uses of rosbags' AnyReader: ``connections``, ``messages`` and ``deserialize``;
    plus ``summary`` (what was read), ``recorded_end_ns`` (the latest time a chunk announces, cut ones
    included), ``custom`` (the custom data a closed file keeps) and ``cut`` (why the read stopped early).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.connections: list[Channel] = []
        self.summary = BagSummary()
        self.recorded_end_ns = 0
        self.custom: dict[str, str] = {}
        self.cut = ""
        self._file = None
        self._map: mmap.mmap | None = None

    def __enter__(self) -> McapSalvageReader:
        self._file = self.path.open("rb")
        try:
            if self.path.stat().st_size < len(MAGIC):
                raise SalvageError(f"{self.path} is empty or shorter than an MCAP header")
            self._map = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            if self._map[: len(MAGIC)] != MAGIC:
                raise SalvageError(f"{self.path} is not an MCAP file (its first bytes are not MCAP's)")
            self._index()
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._file is not None:
            self._file.close()
            self._file = None

    def messages(self, connections: Iterable[Channel] = ()) -> Iterator[tuple[Channel, int, bytes]]:
        """(channel, log time ns, serialized message) in file order, of ``connections`` (default: all)."""
        wanted = {c.id: c for c in connections or self.connections}
        for op, body in self._scan():
            if op == MESSAGE:
                channel_id, _, log_time, _ = MESSAGE_HEADER.unpack_from(body)
                if channel_id in wanted:
                    yield wanted[channel_id], log_time, body[MESSAGE_HEADER.size :]

    def deserialize(self, raw: bytes, msgtype: str) -> object:
        try:
            return self._typestore.deserialize_cdr(raw, msgtype)
        except (SerdeError, ValueError, struct.error) as error:
            raise SalvageError(f"{self.path}: a {msgtype} message cannot be decoded ({error})") from None

    def _index(self) -> None:
        """One pass over the file: channels, their types and counts, start and end, custom data."""
        schemas: dict[int, tuple[str, str, str]] = {}  # id → name, encoding, definition
        channels: dict[int, tuple[Channel, int]] = {}  # id → channel, schema id
        counts: dict[int, int] = {}
        start, end = None, 0
        for op, body in self._scan():
            if op == SCHEMA:
                (schema_id,) = struct.unpack_from("<H", body)
                name, pos = _string(body, 2)
                encoding, pos = _string(body, pos)
                definition, _ = _string(body, pos)
                schemas[schema_id] = (name, encoding, definition)
            elif op == CHANNEL:
                channel_id, schema_id = struct.unpack_from("<HH", body)
                topic, _ = _string(body, 4)
                msgtype = schemas[schema_id][0] if schema_id in schemas else ""
                channels[channel_id] = (Channel(channel_id, topic, msgtype), schema_id)
            elif op == MESSAGE:
                channel_id, _, log_time, _ = MESSAGE_HEADER.unpack_from(body)
                if channel_id in channels:
                    counts[channel_id] = counts.get(channel_id, 0) + 1
                    start = log_time if start is None else min(start, log_time)
                    end = max(end, log_time)
            elif op == METADATA:
                name, pos = _string(body, 0)
                values = self._map_entries(body, pos)
                if name == "rosbag2" and "serialized_metadata" in values:
                    where = f"{self.path} (its rosbag2 metadata record)"
                    self.custom = parse_metadata(values["serialized_metadata"], where).custom
        self.connections = [c for c, _ in channels.values() if c.msgtype]
        self.summary = BagSummary(
            {c.topic: (c.msgtype, counts.get(c.id, 0)) for c in self.connections}, start or 0, end
        )
        self.recorded_end_ns = max(self.recorded_end_ns, end)
        defined = {
            schemas[s][0]: schemas[s][2]
            for c, s in channels.values()
            if s in schemas and schemas[s][1] == "ros2msg"
        }
        try:
            if set(defined) >= {c.msgtype for c in self.connections}:  # the file's own definitions
                self._typestore = get_typestore(Stores.EMPTY)
                for msgtype, definition in defined.items():
                    self._typestore.register(get_types_from_msg(definition, msgtype))
            else:
                self._typestore = typestore_for({c.msgtype for c in self.connections})
        except TypesysError as error:
            raise SalvageError(f"{self.path}: a message definition cannot be parsed ({error})") from None

    @staticmethod
    def _map_entries(body: bytes, pos: int) -> dict[str, str]:
        (size,) = struct.unpack_from("<I", body, pos)
        entries, pos, end = {}, pos + 4, pos + 4 + size
        while pos < end:
            key, pos = _string(body, pos)
            entries[key], pos = _string(body, pos)
        return entries

    def _scan(self) -> Iterator[tuple[int, bytes]]:
        """Every complete record, chunks opened, up to the data end or the first record cut short.
        Records are sliced out as bytes: no view keeps the map from closing."""
        data = self._map
        assert data is not None
        try:
            for op, start, end in _records(data, len(MAGIC)):
                if end > len(data):
                    self.cut = f"its last record is cut at byte {len(data)} (it ends at byte {end})"
                    if op == CHUNK:
                        yield from self._chunk(data[start:], partial=True)
                    return
                if op in (DATA_END, FOOTER):
                    self.cut = ""
                    return
                if op == CHUNK:
                    yield from self._chunk(data[start:end], partial=False)
                else:
                    yield op, data[start:end]
            self.cut = "it ends without its summary and footer"
        except (struct.error, UnicodeDecodeError, KeyError, ReaderError) as error:
            raise SalvageError(f"{self.path} is corrupt, not only cut short ({error})") from None

    def _chunk(self, body: bytes, partial: bool) -> Iterator[tuple[int, bytes]]:
        if len(body) < CHUNK_HEADER.size + 4:
            return
        _, end_ns, size, crc = CHUNK_HEADER.unpack_from(body)
        self.recorded_end_ns = max(self.recorded_end_ns, end_ns)
        compression, pos = _string(body, CHUNK_HEADER.size)
        if pos + 8 > len(body):
            return
        (compressed_size,) = struct.unpack_from("<Q", body, pos)
        records = body[pos + 8 : pos + 8 + compressed_size]
        if partial and compression:
            return  # a compressed chunk cut short cannot be decoded: its messages are lost
        if compression or (crc and not partial):
            records = decompress(records, compression, size, crc)
        for op, start, end in _records(records, 0):
            if end > len(records):
                return
            yield op, records[start:end]


@contextmanager
def settled_sqlite(path: Path) -> Iterator[Path]:
    """``path``, or a copy of it on which SQLite has rolled back or replayed a journal or WAL left beside it
    (rosbags opens databases immutable, which would read half-written pages)."""
    sidecars = [path.with_name(path.name + s) for s in ("-journal", "-wal")]
    sidecars = [p for p in sidecars if p.is_file()]
    if not sidecars:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="lerobot-salvage-") as folder:
        for file in [path, *sidecars]:
            shutil.copy2(file, folder)
        copy = Path(folder) / path.name
        try:
            with sqlite3.connect(copy) as connection:
                connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
            connection.close()
        except sqlite3.DatabaseError as error:
            raise SalvageError(f"{path} is not a readable sqlite3 database ({error})") from None
        yield copy


def sqlite_custom_data(path: Path) -> dict[str, str]:
    """The custom data a closed sqlite3 bag keeps in its `metadata` table; empty for an unclosed one."""
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as connection:
            tables = connection.execute("SELECT name FROM sqlite_master WHERE name = 'metadata'").fetchall()
            rows = connection.execute("SELECT metadata FROM metadata").fetchall() if tables else []
        connection.close()
    except sqlite3.DatabaseError as error:
        raise SalvageError(f"{path} is not a readable sqlite3 database ({error})") from None
    return parse_metadata(rows[-1][0], f"{path} (its metadata table)").custom if rows else {}
