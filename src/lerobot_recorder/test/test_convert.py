"""Bag → dataset conversion on synthetic bags with known content (see conftest.make_bag)."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from rosbags.highlevel import AnyReader
from rosbags.rosbag2 import Writer
from rosbags.typesys import Stores, get_typestore

from lerobot_dataset import DatasetReader
from lerobot_dataset.mapping import DATASET_MAPPING_FILE
from lerobot_dataset.validate import has_errors, validate_dataset
from lerobot_recorder.bags import bag_metadata
from lerobot_recorder.convert import CONVERTED_FILE, REPORTS_DIR, convert_bags
from lerobot_recorder.convert_cli import main as convert_main

FPS = 30  # the synthetic bags' (conftest.make_bag)


def frames_of(root: Path, episode: int) -> list[dict]:
    reader = DatasetReader(root)
    try:
        return list(reader.iter_frames([episode]))
    finally:
        reader.close()


def assert_valid(root: Path) -> None:
    problems = validate_dataset(root)
    assert not has_errors(problems), [str(p) for p in problems]


@pytest.mark.parametrize("storage", ["mcap", "sqlite3"])
def test_frames_match_the_bag_at_every_index(make_bag, tmp_path, storage):
    bag = make_bag(tmp_path / "bags" / "episode_000000", storage=storage)
    result = convert_bags([bag], tmp_path / "dataset", progress=False)
    assert not result.skipped and len(result.reports) == 1
    assert_valid(tmp_path / "dataset")
    frames = frames_of(tmp_path / "dataset", 0)
    # grid: starts at 100.002 s (the commands, stamped by receive time, start last), one frame per 1/30 s
    assert len(frames) == result.reports[0].frames == 59
    for k, frame in enumerate(frames):
        t = 100.002 + k / FPS
        # state: the latest joint state at or before t (never a later one)
        assert frame["observation.state"][0] == pytest.approx(
            np.floor(round((t - 100) * 100, 6)) / 100 + 100, abs=1e-4
        )
        assert frame["action"][0] == k  # the command received at t
        for camera in ("observation.images.front", "observation.images.wrist"):
            assert frame[camera].shape == (48, 64, 3)
            assert abs(float(frame[camera].mean()) - make_bag.frame_value(k)) < 3, f"{camera} frame {k}"
        assert frame["task"] == "stack the cubes"
        assert frame["frame_index"] == k
    assert (tmp_path / "dataset" / DATASET_MAPPING_FILE).read_text().startswith("\nname: fake_robot")
    text = (tmp_path / "dataset" / REPORTS_DIR / "episode_000000.txt").read_text()
    assert "problems: none" in text
    assert (tmp_path / "dataset" / REPORTS_DIR / "episode_000000.png").stat().st_size > 1000


def test_out_of_order_stamps_are_sorted(make_bag, tmp_path):
    bag = make_bag(tmp_path / "bags" / "episode_000000", shuffle=True)
    result = convert_bags([bag], tmp_path / "dataset", progress=False)
    report = result.reports[0]
    assert report.streams["observation.state"].out_of_order > 50
    frames = frames_of(tmp_path / "dataset", 0)
    states = np.array([f["observation.state"][0] for f in frames])
    assert (np.diff(states) > 0).all()  # time order restored from the stamps
    assert (
        "arrived with stamps older" in (tmp_path / "dataset" / REPORTS_DIR / "episode_000000.txt").read_text()
    )


def test_late_camera_trims_the_start(make_bag, tmp_path):
    bag = make_bag(tmp_path / "bags" / "episode_000000", camera_start=0.5)
    report = convert_bags([bag], tmp_path / "dataset", progress=False).reports[0]
    assert report.alignment.trimmed_start_s == pytest.approx(0.5, abs=0.01)
    first = frames_of(tmp_path / "dataset", 0)[0]
    assert first["observation.state"][0] >= 100.5 - 1e-6  # nothing from before every stream ran
    assert abs(float(first["observation.images.front"].mean()) - make_bag.frame_value(15)) < 3


def test_a_gap_longer_than_max_fill_is_cut_and_reported(make_bag, tmp_path):
    bag = make_bag(tmp_path / "bags" / "episode_000000", camera_gap=(0.8, 1.2))
    report = convert_bags([bag], tmp_path / "dataset", progress=False).reports[0]
    dropped = report.alignment.dropped["observation.images.front"]
    assert 10 <= len(dropped) <= 13  # ~0.4 s at 30 fps, never papered over with stale frames
    assert report.frames == report.alignment.grid_frames - len(dropped)
    assert [g for g in report.alignment.gaps["observation.images.front"] if g[1] - g[0] > 0.3e9]
    text = (tmp_path / "dataset" / REPORTS_DIR / "episode_000000.txt").read_text()
    assert "gap in observation.images.front" in text
    for frame in frames_of(tmp_path / "dataset", 0):  # a kept frame's image is at most 1.5 periods old
        front = round(float(frame["observation.images.front"].mean()))
        wrist = round(float(frame["observation.images.wrist"].mean()))
        age = (wrist - front) % 248  # grey levels step by 8 per frame and wrap at 248
        assert min(abs(age), abs(age - 8), abs(age - 248)) <= 2, f"front {front} vs wrist {wrist}"


def test_cut_and_unclosed_bags_are_salvaged_and_the_rest_converted(make_bag, tmp_path, capsys):
    good = make_bag(tmp_path / "bags" / "episode_000000")
    broken = make_bag(tmp_path / "bags" / "episode_000001")
    mcap = next(broken.glob("*.mcap"))
    mcap.write_bytes(mcap.read_bytes()[: mcap.stat().st_size // 2])  # a copy cut short
    unclosed = make_bag(tmp_path / "bags" / "episode_000002")
    (unclosed / "metadata.yaml").unlink()  # the recorder died before closing the bag
    also_good = make_bag(tmp_path / "bags" / "episode_000003", storage="sqlite3")

    status = convert_main([str(tmp_path / "bags"), "-o", str(tmp_path / "dataset")])
    assert status == 0  # every bag gave an episode
    err = capsys.readouterr().err
    assert f"salvaged {broken}: salvaged 1.0 s of 2.0 s recorded" in err
    assert f"salvaged {unclosed}: salvaged 2.0 s of at least 2.0 s recorded" in err
    assert "no metadata.yaml" in err
    reader = DatasetReader(tmp_path / "dataset")
    assert reader.num_episodes == 4
    reader.close()
    assert_valid(tmp_path / "dataset")
    assert good.exists() and also_good.exists()


GARBAGE = {  # bag folder → (what to put in it, what the report says)
    "yaml_list": ({"metadata.yaml": b"- a\n- b\n"}, "is not rosbag2 metadata"),
    "yaml_binary": ({"metadata.yaml": b"\xff\xfe\x00\x81garbage"}, "is not text (not UTF-8)"),
    "yaml_broken": ({"metadata.yaml": b"rosbag2_bagfile_information: [a, {b: \n"}, "is not valid YAML"),
    "empty_mcap": ({"empty_mcap.mcap": b""}, "is empty or shorter than an MCAP header"),
    "noise_mcap": (
        {"noise_mcap.mcap": b"\x89MCAP0\r\n" + bytes(range(256)) * 40},
        "holds no complete message",
    ),
    "not_sqlite": ({"not_sqlite.db3": b"hello, not a database\n"}, "not a database"),
    "no_bag": ({"notes.txt": b"nothing here\n"}, "is not a rosbag2 bag"),
}


@pytest.mark.parametrize("workers", [1, 2])
def test_garbage_bags_are_reported_and_the_rest_converted(make_bag, tmp_path, capsys, workers):
    bags = tmp_path / "bags"
    make_bag(bags / "a_good", seconds=1.0)
    for name, (files, _) in GARBAGE.items():
        (bags / name).mkdir(parents=True)
        for file, content in files.items():
            (bags / name / file).write_bytes(content)
    make_bag(bags / "z_good", seconds=1.0, storage="sqlite3")
    short = make_bag(bags / "short_message", seconds=1.0)  # a camera message cut to 6 bytes
    store = get_typestore(Stores.LATEST)
    with Writer(bags / "short_message_rewritten", version=8) as writer, AnyReader([short]) as reader:
        writer.set_custom_data("lerobot.mapping", bag_metadata(short).custom["lerobot.mapping"])
        out = {
            c.topic: writer.add_connection(c.topic, c.msgtype, typestore=store) for c in reader.connections
        }
        for connection, stamp, raw in reader.messages():
            writer.write(out[connection.topic], stamp, raw[:6] if "image" in connection.topic else raw)
    shutil.rmtree(short)

    status = convert_main([str(bags), "-o", str(tmp_path / "dataset"), "--workers", str(workers)])
    err = capsys.readouterr().err
    assert status == 1, err  # some bags were skipped
    assert "Traceback" not in err
    for name, (_, what) in GARBAGE.items():
        [line] = [line for line in err.splitlines() if line.startswith(f"skipped {bags / name}: ")]
        assert what in line, line
        assert "restore it from a copy" in line or "move it out of the folder of bags" in line, line
    line = next(line for line in err.splitlines() if "short_message_rewritten: " in line)
    assert "a message of 6 bytes is too short to hold a header: the bag is corrupt" in line
    with DatasetReader(tmp_path / "dataset") as reader:
        assert reader.num_episodes == 2


def test_rerun_resumes_and_appends(make_bag, tmp_path):
    first = make_bag(tmp_path / "bags" / "episode_000000")
    convert_bags([tmp_path / "bags"], tmp_path / "dataset", progress=False)
    make_bag(tmp_path / "bags" / "episode_000001", storage="sqlite3")
    result = convert_bags([tmp_path / "bags"], tmp_path / "dataset", progress=False)
    assert result.already == [first]
    assert [r.episode_index for r in result.reports] == [1]
    assert '"state": "done"' in (tmp_path / "dataset" / CONVERTED_FILE).read_text()
    assert_valid(tmp_path / "dataset")
    assert len(frames_of(tmp_path / "dataset", 1)) == 59


def test_mapping_errors_are_clear(make_bag, tmp_path, capsys):
    bag = make_bag(tmp_path / "bags" / "episode_000000")
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: x\nrobot_type: so101\nfps: 30\nfeatures:\n  observation/state: {topic: /a, type: x}\n"
    )
    assert convert_main([str(bag), "-o", str(tmp_path / "d1"), "--mapping", str(bad)]) == 2
    assert "cannot contain '/'" in capsys.readouterr().err
    missing = tmp_path / "missing.yaml"
    missing.write_text(
        "name: x\nrobot_type: so101\nfps: 30\nfeatures:\n"
        "  observation.state: {topic: /nowhere, type: sensor_msgs/msg/JointState, joints: [a]}\n"
        "  action: {topic: /arm/commands, type: std_msgs/msg/Float64MultiArray, joints: [a]}\n"
    )
    assert convert_main([str(bag), "-o", str(tmp_path / "d2"), "--mapping", str(missing)]) == 1
    assert "no message on mapped topic(s) ['/nowhere']" in capsys.readouterr().err
    shutil.rmtree(tmp_path / "d2", ignore_errors=True)
