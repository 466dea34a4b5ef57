"""Bad input is refused with an error that says what is wrong, and the dataset on disk stays as it was."""

from __future__ import annotations

import numpy as np
import pytest

from lerobot_dataset import DatasetReader, DatasetWriter, EpisodeError, FeatureError, FrameError
from lerobot_dataset.validate import validate_dataset

CAMERA = "observation.images.cam0"


@pytest.fixture
def open_writer(kit, tmp_path):
    """A dataset with one saved episode, open for appending, and the hashes of its files."""
    root = tmp_path / "ds"
    feats = kit.features(video_cameras=1)
    kit.make_dataset(root, [5], feats)
    before = kit.hash_tree(root)
    writer = DatasetWriter.append(root)
    yield writer, feats, before
    writer.close()


def _good(kit, feats, index=100):
    return kit.frame_of(index, feats)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda f: f.update({"observation.state": np.zeros(5, np.float32)}),
            r"observation.state: expected shape \[6\]",
        ),
        (lambda f: f.update({"observation.state": np.array(["a"] * 6)}), "expected numbers"),
        (lambda f: f.update({"observation.state": np.array([0, 1, np.nan, 3, 4, 5], np.float32)}), "NaN"),
        (lambda f: f.update({"action": np.array([0, 1, 2, np.inf, 4, 5], np.float64)}), "NaN or infinite"),
        (lambda f: f.update({CAMERA: f[CAMERA].astype(np.float32) / 255}), "expected dtype uint8"),
        (lambda f: f.update({CAMERA: f[CAMERA].transpose(2, 0, 1)}), "channel-first"),
        (lambda f: f.update({CAMERA: f[CAMERA][:-2]}), r"expected image shape \[48, 64, 3\]"),
        (lambda f: f.pop(CAMERA), f"missing {CAMERA}"),
        (lambda f: f.update({"observation.images.other": f[CAMERA]}), "unknown observation.images.other"),
        (lambda f: f.update({"next.reward": 1.5j}), "expected numbers"),
    ],
    ids=[
        "shape",
        "strings",
        "nan-state",
        "inf-action",
        "float-image",
        "chw-image",
        "image-size",
        "missing-camera",
        "extra-key",
        "complex",
    ],
)
def test_bad_frames_are_refused_and_nothing_changes(kit, open_writer, change, message) -> None:
    writer, feats, before = open_writer
    writer.add_frame(_good(kit, feats, 100), task="t")  # an episode in progress
    frame = _good(kit, feats, 101)
    change(frame)
    with pytest.raises(FrameError, match=message):
        writer.add_frame(frame, task="t")
    assert writer.pending_frames == 1  # the bad frame was not recorded
    assert kit.hash_tree(writer.root) == before
    # The episode goes on and saves cleanly.
    writer.add_frame(_good(kit, feats, 101), task="t")
    writer.save_episode()
    with DatasetReader(writer.root) as reader:
        assert reader.num_episodes == 2 and reader.episodes[1].length == 2
        np.testing.assert_array_equal(reader.frame(6)["observation.state"], kit.state_of(101))


def test_integer_state_is_accepted_for_float_features(kit, open_writer) -> None:
    writer, feats, _ = open_writer
    frame = _good(kit, feats)
    frame["observation.state"] = np.arange(6)  # int64 into float32: no meaning lost
    writer.add_frame(frame, task="t")
    assert writer.pending_frames == 1


def test_frames_out_of_order_or_off_the_frame_grid_are_refused(kit, open_writer) -> None:
    writer, feats, before = open_writer
    t0 = 1700000000.0  # any origin, e.g. ROS time
    writer.add_frame(_good(kit, feats, 0), task="t", timestamp=t0)
    writer.add_frame(_good(kit, feats, 1), task="t", timestamp=t0 + 1 / 30)
    with pytest.raises(FrameError, match="out of order"):
        writer.add_frame(_good(kit, feats, 2), task="t", timestamp=t0 + 0.5 / 30)
    with pytest.raises(FrameError, match="out of order"):
        writer.add_frame(_good(kit, feats, 2), task="t", timestamp=t0 + 1 / 30)
    with pytest.raises(FrameError, match="needs one frame every 1/fps"):
        writer.add_frame(_good(kit, feats, 2), task="t", timestamp=t0 + 4 / 30)  # two frames dropped
    with pytest.raises(FrameError, match="timestamp with every frame"):
        writer.add_frame(_good(kit, feats, 2), task="t")
    writer.add_frame(_good(kit, feats, 2), task="t", timestamp=t0 + 2.1 / 30)  # jitter within half a frame
    assert writer.pending_frames == 3
    assert kit.hash_tree(writer.root) == before


def test_missing_task_is_refused(kit, open_writer) -> None:
    writer, feats, _ = open_writer
    with pytest.raises(FrameError, match="needs its task"):
        writer.add_frame(_good(kit, feats))
    frame = _good(kit, feats)
    frame["task"] = "from the frame"
    writer.add_frame(frame)
    with pytest.raises(FrameError, match="two different tasks"):
        writer.add_frame({**_good(kit, feats), "task": "a"}, task="b")


def test_saving_nothing_is_refused(kit, open_writer) -> None:
    writer, _, before = open_writer
    with pytest.raises(EpisodeError, match="no frames"):
        writer.save_episode()
    assert kit.hash_tree(writer.root) == before


@pytest.mark.parametrize(
    ("fps", "features_change", "message"),
    [
        (29.97, None, "whole number"),
        ("30", None, "positive integer"),
        (0, None, "positive integer"),
        (30, lambda f: f.update({"observation/state": f.pop("observation.state")}), "contains '/'"),
        (
            30,
            lambda f: f.update({"timestamp": {"dtype": "float32", "shape": [1]}}),
            "written by the dataset itself",
        ),
        (30, lambda f: f.update({"x": {"dtype": "complex64", "shape": [2]}}), "dtype 'complex64'"),
        (30, lambda f: f.update({"x": {"dtype": "float32", "shape": [2, 3]}}), "must be 1-D"),
        (30, lambda f: f.update({"x": {"dtype": "video", "shape": [48, 64]}}), "height, width, 3"),
        (30, lambda f: f.update({"x": {"dtype": "float32"}}), "'dtype' and 'shape'"),
    ],
    ids=[
        "non-integer-fps",
        "string-fps",
        "zero-fps",
        "slash-name",
        "default-name",
        "dtype",
        "2d",
        "camera-shape",
        "no-shape",
    ],
)
def test_bad_dataset_definitions_are_refused_before_writing(
    kit, tmp_path, fps, features_change, message
) -> None:
    feats = kit.features(video_cameras=1)
    if features_change:
        features_change(feats)
    root = tmp_path / "ds"
    with pytest.raises(FeatureError, match=message):
        DatasetWriter.create(root, fps=fps, features=feats)
    assert not root.exists()


def test_creating_over_an_existing_dataset_is_refused(kit, tmp_path) -> None:
    written = kit.make_dataset(tmp_path / "ds", [3])
    before = kit.hash_tree(written.root)
    with pytest.raises(FileExistsError, match=r"DatasetWriter\.append"):
        DatasetWriter.create(written.root, fps=30, features=kit.features())
    assert kit.hash_tree(written.root) == before


def test_depth_out_of_range_is_refused(kit, tmp_path) -> None:
    feats = kit.features(video_cameras=0, depth=True)
    with DatasetWriter.create(tmp_path / "ds", fps=30, features=feats) as writer:
        frame = kit.frame_of(0, feats)
        frame["observation.images.depth"] = np.full((kit.HEIGHT, kit.WIDTH), 5000, np.uint16)
        with pytest.raises(FrameError, match="exceeds 4095"):
            writer.add_frame(frame, task="t")
        frame["observation.images.depth"] = np.zeros((kit.HEIGHT, kit.WIDTH), np.float32)
        with pytest.raises(FrameError, match="uint16"):
            writer.add_frame(frame, task="t")


def test_a_second_writer_is_refused_while_one_is_open(kit, open_writer) -> None:
    from lerobot_dataset import DatasetLockedError

    writer, _, _ = open_writer
    with pytest.raises(DatasetLockedError, match="another process"):
        DatasetWriter.append(writer.root)


def test_dataset_still_validates_after_refusals(kit, open_writer) -> None:
    writer, feats, _ = open_writer
    bad = _good(kit, feats)
    bad["observation.state"] = np.full(6, np.nan, np.float32)
    with pytest.raises(FrameError):
        writer.add_frame(bad, task="t")
    writer.discard_episode()
    assert validate_dataset(writer.root) == []
