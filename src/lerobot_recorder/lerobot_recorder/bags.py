"""Opening an episode bag: rosbags reads a closed one; one that was never closed (a recorder killed
mid-episode: no metadata.yaml, an MCAP without its footer) is salvaged (lerobot_recorder.salvage) and says
what was salvaged. Unreadable bags raise BagError, which says what is wrong and what to do.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from rosbags.highlevel import AnyReader, AnyReaderError
from rosbags.rosbag2 import ReaderError

from lerobot_recorder.salvage import (
    BagSummary,
    McapSalvageReader,
    SalvageError,
    StoredMetadata,
    parse_metadata,
    settled_sqlite,
    sqlite_custom_data,
)

BagReader = AnyReader | McapSalvageReader  # what conversion reads a bag with: the same few methods


class BagError(RuntimeError):
    """A bag that cannot be converted; the message names the bag and the reason."""


MOVE_IT = "move it out of the folder of bags to convert"
FIX_METADATA = (
    "restore it from a copy of the bag, or delete it to have the bag salvaged from its storage file alone "
    "(its stored mapping and task are then lost: pass --mapping, or convert it with bags that store one)"
)


def bag_metadata(bag: Path) -> StoredMetadata | None:
    """A bag's metadata.yaml: its custom data (the recorder stores the mapping and the task there) and
    duration; None when the bag has no metadata.yaml."""
    metadata_file = bag / "metadata.yaml"
    if not metadata_file.is_file():
        return None
    try:
        return parse_metadata(metadata_file.read_text(encoding="utf-8"), str(metadata_file))
    except UnicodeDecodeError:
        raise BagError(f"{metadata_file} is not text (not UTF-8): {FIX_METADATA}") from None
    except SalvageError as error:
        raise BagError(f"{error}: {FIX_METADATA}") from None


@dataclass
class OpenedBag:
    """A bag open for reading: an AnyReader, or a salvage reader with what was salvaged (``salvaged``)."""

    reader: BagReader
    custom: dict[str, str]
    salvaged: str = ""


@contextmanager
def open_bag(bag: Path) -> Iterator[OpenedBag]:
    """Open a bag with rosbags; salvage its storage file if it was never closed or rosbags cannot read it."""
    metadata = bag_metadata(bag)
    if metadata is not None:
        try:
            reader = AnyReader([bag])
            reader.open()
        except (AnyReaderError, ReaderError, OSError) as error:
            unreadable = f"rosbags cannot read it: {error}"
        else:
            try:
                yield OpenedBag(reader, metadata.custom)
            finally:
                reader.close()
            return
    else:
        unreadable = "it has no metadata.yaml: the recording was interrupted before the bag was closed"
    storage = sorted([*bag.glob("*.mcap"), *bag.glob("*.db3")])
    if not storage:
        raise BagError(
            f"{bag} is not a rosbag2 bag: it holds no metadata.yaml, .mcap or .db3 file; {MOVE_IT}"
        )
    if len(storage) > 1:
        raise BagError(f"{bag} cannot be read ({unreadable}) nor salvaged: salvage reads one storage file")
    with _salvage(storage[0], metadata, unreadable) as opened:
        yield opened


@contextmanager
def _salvage(path: Path, metadata: StoredMetadata | None, unreadable: str) -> Iterator[OpenedBag]:
    custom = None if metadata is None else metadata.custom
    recorded_ns = 0 if metadata is None else metadata.duration_ns
    exact = bool(recorded_ns)
    with ExitStack() as stack:
        try:
            if path.suffix == ".mcap":
                reader = stack.enter_context(McapSalvageReader(path))
                summary = reader.summary
                why = f"{unreadable}; {reader.cut}" if reader.cut else unreadable
                opened = OpenedBag(reader, reader.custom if custom is None else custom)
                recorded_ns = recorded_ns or reader.recorded_end_ns - summary.start_ns
            else:
                database = stack.enter_context(settled_sqlite(path))
                reader = stack.enter_context(AnyReader([database]))
                counts = {c.topic: (c.msgtype, c.msgcount) for c in reader.connections}
                summary = BagSummary(counts, reader.start_time, reader.end_time - 1)
                why = f"{unreadable}; rows that were never committed are lost"
                opened = OpenedBag(reader, sqlite_custom_data(database) if custom is None else custom)
        except (SalvageError, AnyReaderError, ReaderError) as error:
            raise BagError(
                f"{path.parent} cannot be read ({unreadable}) nor salvaged: {error}; {MOVE_IT}"
            ) from None
        yield _salvaged(opened, path, summary, recorded_ns, exact, why)


def _salvaged(
    opened: OpenedBag, path: Path, summary: BagSummary, recorded_ns: int, exact: bool, why: str
) -> OpenedBag:
    """``recorded_ns``: how long the recording was (``exact``: from its metadata) or at least was (what the
    file announces), else 0."""
    if not summary.messages:
        raise BagError(f"{path} holds no complete message ({why}): the recording is lost; {MOVE_IT}")
    recorded_s = max(recorded_ns / 1e9, summary.duration_s)
    of = "of" if exact else "of at least"  # what a killed writer still held in memory left no trace
    opened.salvaged = (
        f"salvaged {summary.duration_s:.1f} s {of} {recorded_s:.1f} s recorded, from {path.name} ({why}); "
        f"read: {summary.text()}"
    )
    return opened
