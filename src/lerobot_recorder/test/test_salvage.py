"""Bags that were never closed (a recorder killed mid-episode) are salvaged up to what reached the disk."""

import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2.storage_mcap import McapReader

from lerobot_dataset import DatasetReader
from lerobot_dataset.mapping import parse_mapping
from lerobot_dataset.validate import has_errors, validate_dataset
from lerobot_recorder.bags import bag_metadata, open_bag
from lerobot_recorder.convert import REPORTS_DIR, convert_bags
from lerobot_recorder.convert_cli import main as convert_main

SECONDS = 6.4


def written(bag: Path) -> list[tuple[str, int, bytes]]:
    """The messages of a closed bag as rosbags reads them: (topic, receive time, bytes), in write order."""
    with AnyReader([bag]) as reader:
        return [(c.topic, t, bytes(raw)) for c, t, raw in reader.messages()]


def salvaged(bag: Path) -> list[tuple[str, int, bytes]]:
    with open_bag(bag) as opened:
        assert opened.salvaged
        return [(c.topic, t, bytes(raw)) for c, t, raw in opened.reader.messages()]


def read_all(root: Path, episode: int = 0) -> list[dict]:
    with DatasetReader(root) as reader:
        return list(reader.iter_frames([episode]))


def assert_valid(root: Path) -> None:
    problems = validate_dataset(root)
    assert not has_errors(problems), [str(p) for p in problems]


def chunk_ends(mcap: Path) -> list[tuple[int, int, int]]:
    """(start, end, messages) byte ranges of the chunks of a closed MCAP file, from its own index."""
    reader = McapReader(mcap)
    reader.open()
    try:
        return [
            (c.chunk_start_offset, c.chunk_start_offset + c.chunk_length, sum(c.channel_count.values()))
            for c in reader.chunks
        ]
    finally:
        reader.close()


def cut(bag: Path, offset: int) -> None:
    """What a killed recorder leaves: the MCAP up to ``offset``, no metadata.yaml."""
    mcap = next(bag.glob("*.mcap"))
    with mcap.open("r+b") as file:
        file.truncate(offset)
    (bag / "metadata.yaml").unlink()


@pytest.mark.parametrize(
    "where",
    ["no summary", "record boundary", "mid-chunk", "in a chunk header", "first chunk cut"],
)
def test_cut_mcap_gives_the_frames_written_before_the_cut(make_bag, tmp_path, where):
    intact = make_bag(tmp_path / "bags" / "intact", seconds=SECONDS)
    bag = make_bag(tmp_path / "bags" / "killed", seconds=SECONDS)
    chunks = chunk_ends(next(intact.glob("*.mcap")))
    assert len(chunks) >= 3  # 1 MiB chunks
    offset = {
        "no summary": chunks[-1][1],
        "record boundary": chunks[1][1],
        "mid-chunk": (chunks[1][0] + chunks[1][1]) // 2,
        "in a chunk header": chunks[1][0] + 20,
        "first chunk cut": (chunks[0][0] + chunks[0][1]) // 2,
    }[where]
    cut(bag, offset)
    complete = sum(n for start, end, n in chunks if end <= offset)  # messages of whole chunks before the cut
    begun = sum(n for start, end, n in chunks if start < offset)

    everything, recovered = written(intact), salvaged(bag)
    assert recovered == everything[: len(recovered)]  # the messages written first, exactly
    assert complete <= len(recovered) <= begun
    if where in ("mid-chunk", "first chunk cut"):  # an uncompressed chunk cut short keeps its whole messages
        assert len(recovered) > complete

    mapping = parse_mapping(bag_metadata(intact).custom["lerobot.mapping"])  # the killed bag stores none
    whole = convert_bags([intact], tmp_path / "whole", mapping=mapping, progress=False)
    result = convert_bags([bag], tmp_path / "salvaged", mapping=mapping, progress=False)
    assert not result.skipped and len(result.reports) == 1
    assert_valid(tmp_path / "salvaged")
    [(_, note)] = result.salvaged
    recovered_s = (recovered[-1][1] - recovered[0][1]) / 1e9
    assert note.startswith(f"salvaged {recovered_s:.1f} s of at least ")
    assert "no metadata.yaml" in note and "/joint_states (sensor_msgs/msg/JointState: " in note
    assert note in (tmp_path / "salvaged" / REPORTS_DIR / "episode_000000.txt").read_text()

    frames, reference = read_all(tmp_path / "salvaged"), read_all(tmp_path / "whole")
    assert 0 < len(frames) <= len(reference) == whole.reports[0].frames
    last_stamp = max(t for _, t, _ in recovered) / 1e9 - 100  # receive times start at 100 s (+2 ms)
    assert len(frames) >= int((last_stamp - 0.1) * 30) - 1  # every frame the recovered streams cover
    for k, (frame, expected) in enumerate(zip(frames, reference, strict=False)):
        for key in ("observation.state", "action"):
            np.testing.assert_array_equal(frame[key], expected[key], err_msg=f"frame {k} {key}")
        for camera in ("observation.images.front", "observation.images.wrist"):
            assert abs(float(frame[camera].mean()) - float(expected[camera].mean())) < 3, f"{camera} {k}"


def test_a_bag_killed_before_its_first_chunk_is_reported_as_lost(make_bag, tmp_path, capsys):
    bag = make_bag(tmp_path / "bags" / "episode_000000", seconds=1.0)
    cut(bag, 200)  # the header and the start of a chunk: no whole message
    good = make_bag(tmp_path / "bags" / "episode_000001", seconds=1.0)
    assert convert_main([str(tmp_path / "bags"), "-o", str(tmp_path / "dataset"), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert f"skipped {bag}: " in err and "holds no complete message" in err and "recording is lost" in err
    with DatasetReader(tmp_path / "dataset") as reader:
        assert reader.num_episodes == 1
    assert good.exists()


@pytest.mark.parametrize("workers", [1, 2])
def test_unclosed_bags_use_the_mapping_of_the_bags_beside_them(make_bag, tmp_path, capsys, workers):
    bags = tmp_path / "bags"
    make_bag(bags / "episode_000000", seconds=1.0)
    killed = make_bag(bags / "episode_000001", seconds=2.5)
    cut(killed, chunk_ends(next(killed.glob("*.mcap")))[0][1])
    rows = make_bag(bags / "episode_000002", seconds=1.5, storage="sqlite3")
    (rows / "metadata.yaml").unlink()  # rows committed, never closed

    status = convert_main([str(bags), "-o", str(tmp_path / "dataset"), "--workers", str(workers)])
    err = capsys.readouterr().err
    assert status == 0, err
    assert f"salvaged {killed}: salvaged " in err
    assert f"salvaged {rows}: salvaged 1.5 s of at least 1.5 s recorded" in err
    assert f"converted with that of bag {bags / 'episode_000000'}" in err
    assert_valid(tmp_path / "dataset")
    with DatasetReader(tmp_path / "dataset") as reader:
        assert reader.num_episodes == 3
    assert len(read_all(tmp_path / "dataset", 2)) == 44  # a closed 1.5 s bag's frames: every row is there


KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    from rosbags.rosbag2 import Writer
    from rosbags.rosbag2.enums import StoragePlugin
    from rosbags.typesys import Stores, get_typestore

    storage, path, committed, total = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    store = get_typestore(Stores.LATEST)
    Header, Time = store.types["std_msgs/msg/Header"], store.types["builtin_interfaces/msg/Time"]
    Image = store.types["sensor_msgs/msg/Image"]
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    writer = Writer(path, version=8, storage_plugin=plugin)  # what the recorder writes with
    writer.open()
    if storage == "sqlite3-wal":  # rosbag2's "resilient" storage preset
        writer.storage.conn.execute("PRAGMA journal_mode=WAL")
    # custom data stored as the file opens (rosbags writes it on close only): an MCAP Metadata record, a row
    custom = "custom_data: {lerobot.task: stack the cubes}"
    if storage == "mcap":
        from io import BytesIO
        from rosbags.rosbag2.storage_mcap import write_record, write_string
        record, entries = BytesIO(), BytesIO()
        write_string(record, "rosbag2")
        write_string(entries, "serialized_metadata")
        write_string(entries, custom)
        record.write(len(entries.getvalue()).to_bytes(4, "little") + entries.getvalue())
        write_record(writer.storage.bio, 0x0C, record)
    else:
        insert = "INSERT INTO metadata(metadata_version, metadata) VALUES(8, ?)"
        writer.storage.cursor.execute(insert, (custom,))
    connection = writer.add_connection("/front/image_raw", "sensor_msgs/msg/Image", typestore=store)
    import numpy as np
    for k in range(total):
        stamp = 100 * 10**9 + k * 10**9 // 30
        image = Image(
            header=Header(stamp=Time(sec=stamp // 10**9, nanosec=stamp % 10**9), frame_id=""), height=120,
            width=160, encoding="rgb8", is_bigendian=0, step=480,
            data=np.full(120 * 160 * 3, k % 256, np.uint8),
        )
        writer.write(connection, stamp, store.serialize_cdr(image, "sensor_msgs/msg/Image"))
        if storage != "mcap" and k + 1 == committed:
            writer.storage.conn.commit()  # a commit interval, as a recorder bounding its losses has
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("storage", ["mcap", "sqlite3", "sqlite3-wal"])
def test_a_writer_killed_with_sigkill_leaves_a_bag_read_up_to_what_reached_the_disk(tmp_path, storage):
    bag = tmp_path / "episode_000000"
    # 120 images of 57.6 kB: 6.9 MB, beyond SQLite's 2 MB page cache, which then spills uncommitted pages
    # into the database file (their old content goes to the journal beside it)
    child = subprocess.run([sys.executable, "-c", KILLED_WRITER, storage, str(bag), "40", "120"], check=False)
    assert child.returncode == -signal.SIGKILL
    assert not (bag / "metadata.yaml").exists()
    recovered = salvaged(bag)
    stamps = [t for _, t, _ in recovered]
    assert stamps == [100 * 10**9 + k * 10**9 // 30 for k in range(len(recovered))]  # the first, in order
    with open_bag(bag) as opened:
        assert opened.custom == {"lerobot.task": "stack the cubes"}
        values = [opened.reader.deserialize(raw, "sensor_msgs/msg/Image").data[0] for _, _, raw in recovered]
    assert values == [k % 256 for k in range(len(recovered))]
    if storage == "mcap":
        assert len(recovered) >= 100  # every 1 MiB chunk flushed before the kill (about 18 images each)
    else:  # what was committed: none of the rows rolled back, all of those only in the WAL
        assert (bag / f"episode_000000.db3-{'wal' if storage == 'sqlite3-wal' else 'journal'}").exists()
        assert len(recovered) == 40
