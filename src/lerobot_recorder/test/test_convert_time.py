"""The converter never compresses time: a missing camera frame is filled, a long gap splits the episode.

Bags from conftest.make_bag, whose commands are received 25 ms after each frame time: the grid then lies 25 ms
after the camera stamps, so a missing camera message leaves a grid frame with no image within 1.5 periods.
"""

import json

import numpy as np
import pytest

from lerobot_dataset import DatasetReader
from lerobot_dataset.validate import has_errors, validate_dataset
from lerobot_recorder.convert import CONVERTED_FILE, REPORTS_DIR, ConvertedRegistry, convert_bags
from lerobot_recorder.convert_cli import main as convert_main

FPS = 30
DELAY = 0.025  # s from a frame's time to its command's receive time: the grid's start after the cameras
FRONT, WRIST = "observation.images.front", "observation.images.wrist"


def episodes_of(root) -> list[list[dict]]:
    with DatasetReader(root) as reader:
        return [list(reader.iter_frames([e])) for e in range(reader.num_episodes)]


def grey(frame: dict, camera: str) -> int:
    return round(float(frame[camera].mean()))


def assert_on_time(frames: list[dict], first_grid_frame: int, make_bag, filled: set[int] = frozenset()):
    """Frame i of an episode is stamped i/fps and carries what the bag held at its grid time."""
    for i, frame in enumerate(frames):
        k = first_grid_frame + i  # grid frame k lies at 100 s + DELAY + k/fps
        assert frame["timestamp"] == pytest.approx(i / FPS, abs=1e-4)
        assert frame["frame_index"] == i
        assert frame["action"][0] == k, f"frame {i}"  # the command of grid frame k
        t = 100 + DELAY + k / FPS
        assert t - 0.0101 <= frame["observation.state"][0] <= t + 1e-4  # the joint state just before t
        assert abs(grey(frame, WRIST) - make_bag.frame_value(k)) < 3, f"wrist frame {i}"
        front = make_bag.frame_value(k - 1 if i in filled else k)  # filled: the nearest earlier image
        assert abs(grey(frame, FRONT) - front) < 3, f"front frame {i}"


def test_one_missing_camera_message_is_filled_not_time_compressed(make_bag, tmp_path):
    bag = make_bag(tmp_path / "bags" / "episode_000000", command_delay=DELAY, camera_gap=(1.0, 1.01))
    result = convert_bags([bag], tmp_path / "dataset", progress=False, workers=1)
    assert not result.skipped
    [report] = result.reports
    assert report.frames == report.alignment.grid_frames == 59  # every grid frame kept
    [frames] = episodes_of(tmp_path / "dataset")
    assert len(frames) == 59
    assert_on_time(frames, 0, make_bag, filled={30})
    assert not has_errors(validate_dataset(tmp_path / "dataset"))
    reports = tmp_path / "dataset" / REPORTS_DIR
    start = pytest.approx(DELAY)  # the grid's start after the bag's first message
    text = (reports / "episode_000000.txt").read_text()
    assert f"filled {FRONT}: 1 frame(s)" in text and "episode 0 frame 30" in text, text
    assert "WARNING" not in text  # one lost message is no slow camera
    assert json.loads((reports / "episode_000000.json").read_text()) == {
        "bag": str(bag),
        "fps": FPS,
        "episodes": [{"episode_index": 0, "length": 59, "start_s": start, "filled_frames": {FRONT: [30]}}],
        "dropped_pieces_s": [],
    }


@pytest.mark.parametrize("workers", [1, 2])
def test_a_one_second_gap_splits_the_episode_with_true_times(make_bag, tmp_path, capsys, workers):
    bags = tmp_path / "bags"
    bag = make_bag(bags / "episode_000000", command_delay=DELAY, camera_gap=(0.5, 1.5), seconds=3.0)
    make_bag(bags / "episode_000001", command_delay=DELAY)  # after it: its episode index follows the split
    status = convert_main([str(bags), "-o", str(tmp_path / "dataset"), "--workers", str(workers)])
    out = capsys.readouterr().out
    assert status == 0
    assert "converted 3 episode(s) from 2 bag(s)" in out, out
    before, after, whole = episodes_of(tmp_path / "dataset")
    # front images 15..44 are missing: grid frames 15..44 have none within tolerance and are cut
    assert len(before) == 15 and len(after) == 44 and len(whole) == 59
    assert_on_time(before, 0, make_bag)
    assert_on_time(after, 45, make_bag)
    assert_on_time(whole, 0, make_bag)
    assert not has_errors(validate_dataset(tmp_path / "dataset"))
    text = (tmp_path / "dataset" / REPORTS_DIR / "episode_000000.txt").read_text()
    assert f"episodes 0-1 (split at gaps) <- {bag}" in text
    assert "split: 1.00 s cut at 0.49 s" in text and "episodes 0 and 1 are its two sides" in text, text
    assert "WARNING" not in text  # a gap, not a slow camera: its rate leaves the gap out
    assert (tmp_path / "dataset" / REPORTS_DIR / "episode_000002.txt").is_file()
    registry = json.loads((tmp_path / "dataset" / CONVERTED_FILE).read_text())
    assert registry[str(bag.resolve())] == {"episode_index": 0, "episodes": 2, "state": "done"}


def test_a_run_killed_between_the_episodes_of_a_split_bag_converts_only_the_missing_one(make_bag, tmp_path):
    bag = make_bag(tmp_path / "bags" / "bag", command_delay=DELAY, camera_gap=(0.5, 1.5), seconds=3)
    root = tmp_path / "dataset"
    # The state a run killed right after saving the bag's first episode leaves: the dataset holds one episode
    # (here a short bag's, as a stand-in) and the bag's entry is pending from episode 0, two episodes long.
    convert_bags([make_bag(tmp_path / "short", command_delay=DELAY, seconds=0.5)], root, progress=False)
    ConvertedRegistry(root).mark(bag, 0, "pending", episodes=2)
    result = convert_bags([bag], root, progress=False)
    assert not result.skipped and [r.episodes for r in result.reports] == [[0, 1]]
    _, after = episodes_of(root)  # only the missing side was appended
    assert len(after) == 44
    assert_on_time(after, 45, make_bag)
    registry = json.loads((root / CONVERTED_FILE).read_text())
    assert registry[str(bag.resolve())] == {"episode_index": 0, "episodes": 2, "state": "done"}


def test_a_camera_slower_than_the_dataset_fps_is_warned_about(make_bag, tmp_path, caplog):
    bag = make_bag(tmp_path / "bags" / "episode_000000", command_delay=DELAY, camera_rate=15)
    result = convert_bags([bag], tmp_path / "dataset", progress=False)
    [report] = result.reports
    text = (tmp_path / "dataset" / REPORTS_DIR / "episode_000000.txt").read_text()
    assert f"WARNING: {FRONT} ran at 15.0 Hz, below the dataset's 30 fps" in text, text
    assert WRIST not in " ".join(line for line in text.splitlines() if "WARNING" in line)
    assert f"{FRONT} ran at 15.0 Hz, below the dataset's 30 fps" in caplog.text
    # every other grid frame lacks a front image within 1.5 periods: filled, never dropped
    assert report.frames == report.alignment.grid_frames
    assert len(report.alignment.filled[FRONT]) == pytest.approx(report.frames / 2, abs=1)
    assert np.all(np.diff(report.alignment.frame_times) == pytest.approx(1e9 / FPS, abs=1))


def test_a_split_bag_that_fails_after_its_first_episode_keeps_only_that_one_in_the_registry(tmp_path):
    bag = tmp_path / "episode_000000"
    registry = ConvertedRegistry(tmp_path / "dataset")
    registry.mark(bag, 4, "pending", episodes=3, saved=1)
    assert registry.abandon(bag) == 1
    registry.mark(tmp_path / "other", 5, "pending")  # the next bag takes the next index
    assert registry.abandon(tmp_path / "other") == 0  # nothing of it saved: forgotten, retried next run
    assert json.loads((tmp_path / "dataset" / CONVERTED_FILE).read_text()) == {
        str(bag.resolve()): {"episode_index": 4, "episodes": 1, "state": "done"}
    }


def test_a_side_of_a_split_shorter_than_half_a_second_is_dropped_and_reported(make_bag, tmp_path):
    bag = make_bag(tmp_path / "bags" / "bag", command_delay=DELAY, camera_gap=(0.2, 1.2), seconds=3)
    assert not convert_bags([bag], tmp_path / "dataset", progress=False).skipped
    [after] = episodes_of(tmp_path / "dataset")  # grid frames 0..5 (0.2 s) before the gap are no episode
    assert len(after) == 53
    assert_on_time(after, 36, make_bag)
    text = (tmp_path / "dataset" / REPORTS_DIR / "episode_000000.txt").read_text()
    assert "dropped 0.20 s at 0.03 s: a side of a split shorter than 0.5 s" in text, text
    assert json.loads((tmp_path / "dataset" / REPORTS_DIR / "episode_000000.json").read_text())[
        "dropped_pieces_s"
    ] == [[pytest.approx(DELAY), pytest.approx(DELAY + 5 / FPS)]]


def test_a_camera_far_below_the_fps_skips_the_bag_with_its_rate(make_bag, tmp_path, capsys):
    """The issue's recording: a camera at 5 Hz for a 30 fps dataset leaves no stretch worth an episode."""
    make_bag(tmp_path / "bags" / "episode_000000", command_delay=DELAY, camera_rate=5)
    assert convert_main([str(tmp_path / "bags"), "-o", str(tmp_path / "dataset"), "--workers", "1"]) == 1
    err = capsys.readouterr().err
    assert "every frame was cut" in err and f"{FRONT} ran at 5.0 Hz" in err, err
    assert "(the dataset is 30 fps)" in err and "Traceback" not in err
