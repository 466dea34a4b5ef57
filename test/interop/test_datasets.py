"""Datasets both ways between the suite and lerobot 0.6.1, compared value by value.

One lerobot subprocess does all the lerobot work (see ``lerobot_side/datasets_roundtrip.py``): it loads
the suite's datasets (the writer's AV1 with rollover over files and chunk folders, a second camera size and
a depth camera; its H.264; the bag converter's), edits one with lerobot's tools (delete, split, merge), and
writes a dataset of its own. The checks below compare what it read with what the suite wrote and reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from lerobot_dataset import DatasetReader, DatasetWriter, FeatureError, FileLimits, VideoEncoderConfig
from lerobot_dataset.cli import main as dataset_cli
from lerobot_dataset.validate import validate_dataset
from lerobot_recorder.convert import convert_bags

FPS = 30
TASKS = ["pick the red cube", "place it in the bin", "wave"]
FRONT, WRIST, DEPTH = "observation.images.front", "observation.images.wrist", "observation.images.depth"
SIZES = {FRONT: (48, 64), WRIST: (24, 32), DEPTH: (24, 32)}
AV1_LENGTHS = [6, 4, 7, 5]
# Tiny files: AV1 episodes spread over several data/video files and, with 2 files per chunk, chunk folders.
ROLLOVER = FileLimits(chunks_size=2, data_files_size_in_mb=0.004, video_files_size_in_mb=0.003)
# Mean absolute error of a decoded frame against its source (CRF 30 on these synthetic pictures); a frame
# from the neighbouring index is far above it.
CODEC_MAE = 8.0
DELTA = {
    "observation.state": [-2 / FPS, -1 / FPS, 0.0],
    "action": [0.0, 1 / FPS, 2 / FPS, 3 / FPS],
    FRONT: [-1 / FPS, 0.0],
}


def state_of(index: int) -> np.ndarray:
    return (np.sin(np.arange(6) + index * 0.1) * (1 + index)).astype(np.float32)


def action_of(index: int) -> np.ndarray:
    return (np.arange(6, dtype=np.float32) * 0.5 - index * 1.25).astype(np.float32)


def picture(index: int, key: str) -> np.ndarray:
    """A colour frame unlike its neighbours (flat colours move with the index) with some texture."""
    height, width = SIZES[key]
    camera = list(SIZES).index(key)
    image = np.empty((height, width, 3), dtype=np.uint8)
    image[..., 0] = (index * 23 + camera * 50) % 256
    image[..., 1] = (index * 41 + 100 + camera * 20) % 256
    image[..., 2] = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    rng = np.random.default_rng(index * 10 + camera)
    blocks = rng.integers(0, 256, (height // 16, width // 16, 3), dtype=np.uint8)
    patch = np.kron(blocks, np.ones((8, 8, 1), dtype=np.uint8))
    image[: patch.shape[0], : patch.shape[1]] = patch
    return image


def depth_of(index: int) -> np.ndarray:
    """Millimetres up to the 12-bit limit the suite stores losslessly."""
    yy, xx = np.mgrid[0 : SIZES[DEPTH][0], 0 : SIZES[DEPTH][1]]
    return ((xx * 97 + yy * 13 + index * 31) % 4096).astype(np.uint16)[..., None]


def source(index: int, key: str) -> np.ndarray:
    return depth_of(index) if key == DEPTH else picture(index, key)


BAG_MAPPING = """
name: interop_arm
robot_type: so101
fps: 30
task: wave
features:
  observation.state: {topic: /joint_states, type: sensor_msgs/msg/JointState, joints: [j0, j1, j2]}
  action: {topic: /arm/commands, type: std_msgs/msg/Float64MultiArray, joints: [j0, j1, j2]}
  observation.images.front: {topic: /front/image_raw, type: sensor_msgs/msg/Image}
"""


def write_bag(path: Path, task: str, frames: int, first: int) -> Path:
    """An episode bag as the recorder writes it (mapping and task in its custom data): joint states,
    commands and a 64x48 camera at 30 Hz; frame k carries the values of global frame ``first + k``."""
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.LATEST)
    types = store.types
    messages = []
    for k in range(frames):
        index, ns = first + k, 100_000_000_000 + k * 1_000_000_000 // FPS
        header = types["std_msgs/msg/Header"](
            stamp=types["builtin_interfaces/msg/Time"](sec=ns // 10**9, nanosec=ns % 10**9), frame_id=""
        )
        state = types["sensor_msgs/msg/JointState"](
            header=header,
            name=["j0", "j1", "j2"],
            position=state_of(index)[:3].astype(np.float64),
            velocity=np.zeros(0),
            effort=np.zeros(0),
        )
        command = types["std_msgs/msg/Float64MultiArray"](
            layout=types["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0),
            data=action_of(index)[:3].astype(np.float64),
        )
        image = types["sensor_msgs/msg/Image"](
            header=header,
            height=48,
            width=64,
            encoding="rgb8",
            is_bigendian=0,
            step=64 * 3,
            data=picture(index, FRONT).reshape(-1),
        )
        messages += [
            (ns + 1_000_000, "/joint_states", "sensor_msgs/msg/JointState", state),
            (ns + 1_000_000, "/arm/commands", "std_msgs/msg/Float64MultiArray", command),
            (ns + 2_000_000, "/front/image_raw", "sensor_msgs/msg/Image", image),
        ]
    writer = Writer(path, version=8)
    writer.set_custom_data("lerobot.mapping", BAG_MAPPING)
    writer.set_custom_data("lerobot.task", task)
    with writer:
        connections: dict[str, Any] = {}
        for receive, topic, msgtype, message in messages:
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(connections[topic], receive, store.serialize_cdr(message, msgtype))
    return path


def write_suite_dataset(
    root: Path, cameras: list[str], lengths: list[int], video: VideoEncoderConfig, limits: FileLimits
) -> SimpleNamespace:
    features: dict[str, dict[str, Any]] = {
        "observation.state": {"dtype": "float32", "shape": [6], "names": [f"j{i}" for i in range(6)]},
        "action": {"dtype": "float32", "shape": [6], "names": [f"j{i}" for i in range(6)]},
    }
    for key in cameras:
        features[key] = {"dtype": "video", "shape": [*SIZES[key], 1 if key == DEPTH else 3]}
    index = 0
    with DatasetWriter.create(root, fps=FPS, features=features, video=video, limits=limits) as writer:
        for episode, length in enumerate(lengths):
            for _ in range(length):
                frame = {"observation.state": state_of(index), "action": action_of(index)}
                frame.update({key: source(index, key) for key in cameras})
                writer.add_frame(frame, task=TASKS[episode % len(TASKS)])
                index += 1
            writer.save_episode()
    starts = [int(s) for s in np.cumsum([0, *lengths[:-1]])]
    probes = sorted(
        {i for s, n in zip(starts, lengths, strict=True) for i in (s, s + 1, s + n // 2, s + n - 1)}
    )
    return SimpleNamespace(root=root, cameras=cameras, lengths=lengths, starts=starts, probes=probes)


def to_hwc_uint8(chw: np.ndarray) -> np.ndarray:
    """lerobot's float (C, H, W) in [0, 1] as the suite's (H, W, C) uint8."""
    return np.clip(np.rint(np.moveaxis(chw, -3, -1) * 255), 0, 255).astype(np.uint8)


def as_suite_picture(theirs: np.ndarray, depth: bool) -> np.ndarray:
    """A frame (or stack) lerobot returned, laid out (..., H, W, C) as the suite's, as float: colour in grey
    levels, depth in millimetres (lerobot returns float millimetres)."""
    return np.moveaxis(theirs, -3, -1).astype(float) if depth else to_hwc_uint8(theirs).astype(float)


def lerobot_depth_source(index: int, height: int, width: int) -> np.ndarray:
    """The millimetres ``datasets_roundtrip.depth_picture`` gave lerobot for frame ``index``."""
    yy, xx = np.mgrid[0:height, 0:width]
    return (300 + (xx * 53 + yy * 29 + index * 17) % 5000).astype(np.uint16)[..., None]


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float64) - b.astype(np.float64)).mean())


@pytest.fixture(scope="module")
def roundtrip(lerobot, tmp_path_factory: pytest.TempPathFactory) -> SimpleNamespace:
    base = tmp_path_factory.mktemp("interop_datasets")
    av1 = write_suite_dataset(
        base / "suite_av1", [FRONT, WRIST, DEPTH], AV1_LENGTHS, VideoEncoderConfig(), ROLLOVER
    )
    h264 = write_suite_dataset(
        base / "suite_h264",
        [FRONT],
        [5, 8, 3],
        VideoEncoderConfig.h264(),
        FileLimits(data_files_size_in_mb=0.004),
    )
    bags = [
        write_bag(base / "bags" / f"episode_{i:06d}", task, frames, first)
        for i, (task, frames, first) in enumerate([("wave", 9, 0), ("stack the cubes", 7, 100)])
    ]
    bag = SimpleNamespace(root=base / "suite_bag", tasks=["wave", "stack the cubes"])
    convert_bags(bags, bag.root, video=VideoEncoderConfig.h264(), progress=False)
    with DatasetReader(bag.root) as reader:
        bag.probes = sorted(
            {i for ep in reader.episodes for i in (ep.dataset_from_index, ep.dataset_to_index - 1)} | {1, 5}
        )
    written = SimpleNamespace(
        root=base / "lerobot_written",
        cameras={"observation.images.top": [48, 64], "observation.images.side": [24, 32]},
        episodes=[["pick the red cube", 5], ["wave", 4], ["pick the red cube", 6]],
    )
    written.probes = [0, 1, 4, 5, 8, 9, 12, 14]
    delta_written = {
        "observation.state": [-1 / FPS, 0.0],
        "action": [0.0, 1 / FPS, 2 / FPS],
        "observation.images.side": [-2 / FPS, 0.0],
    }
    depth = SimpleNamespace(
        root=base / "lerobot_depth",
        cameras={"observation.images.top": [24, 32]},
        depth={"observation.images.range": [24, 32]},
        episodes=[["wave", 4], ["pick the red cube", 3]],
        probes=[0, 1, 3, 4, 6],
        delta={"observation.state": [-1 / FPS, 0.0], "observation.images.range": [-1 / FPS, 0.0]},
    )
    plan = {
        "out": str(base),
        "write": [
            {
                "name": "lerobot/written",
                "root": str(written.root),
                "fps": FPS,
                "episodes": written.episodes,
                "cameras": written.cameras,
            },
            {
                "name": "lerobot/depth",
                "root": str(depth.root),
                "fps": FPS,
                "episodes": depth.episodes,
                "cameras": depth.cameras,
                "depth": depth.depth,
            },
        ],
        "read": [
            {"name": "suite/av1", "root": str(av1.root), "indices": av1.probes, "delta_timestamps": DELTA},
            {"name": "suite/h264", "root": str(h264.root), "indices": h264.probes, "delta_timestamps": DELTA},
            {"name": "suite/bag", "root": str(bag.root), "indices": bag.probes, "delta_timestamps": DELTA},
            {
                "name": "lerobot/written",
                "root": str(written.root),
                "indices": written.probes,
                "delta_timestamps": delta_written,
            },
            {
                "name": "lerobot/depth",
                "root": str(depth.root),
                "indices": depth.probes,
                "delta_timestamps": depth.delta,
            },
        ],
        "edit": {
            "source": str(av1.root),
            "delete": [1],
            "split": {"b": [2, 3], "a": [0, 1]},
            "shared_source": str(h264.root),
            "shared_delete": [1],
            "out": str(base),
        },
    }
    (base / "plan.json").write_text(json.dumps(plan))
    summary = lerobot("datasets_roundtrip", base / "plan.json")
    with np.load(base / "arrays.npz") as loaded:
        arrays = dict(loaded)
    return SimpleNamespace(
        av1=av1,
        h264=h264,
        bag=bag,
        written=written,
        depth=depth,
        delta_written=delta_written,
        summary=summary,
        arrays=arrays,
        edits=summary["edit"],
    )


# ------------------------------------------------------------------ suite datasets in lerobot


@pytest.mark.parametrize("name", ["av1", "h264"])
def test_lerobot_reads_the_suites_numbers_tasks_and_episodes_exactly(roundtrip, name) -> None:
    written = getattr(roundtrip, name)
    seen = roundtrip.summary["read"][f"suite/{name}"]
    arrays = {
        k.split("/column/")[1]: v
        for k, v in roundtrip.arrays.items()
        if k.startswith(f"suite/{name}/column/")
    }
    total = sum(written.lengths)
    assert seen["num_frames"] == seen["total_frames"] == total
    assert seen["total_episodes"] == len(written.lengths)
    assert seen["warnings"] == []
    np.testing.assert_array_equal(arrays["observation.state"], [state_of(i) for i in range(total)])
    np.testing.assert_array_equal(arrays["action"], [action_of(i) for i in range(total)])
    np.testing.assert_array_equal(arrays["index"], np.arange(total))
    episode_of = np.repeat(np.arange(len(written.lengths)), written.lengths)
    np.testing.assert_array_equal(arrays["episode_index"], episode_of)
    frame_index = np.concatenate([np.arange(n) for n in written.lengths])
    np.testing.assert_array_equal(arrays["frame_index"], frame_index)
    np.testing.assert_allclose(arrays["timestamp"], frame_index / FPS, atol=1e-6)
    assert [seen["tasks"][t] for t in arrays["task_index"]] == [TASKS[e % 3] for e in episode_of]
    ends = np.cumsum(written.lengths).tolist()
    assert [(e["from"], e["to"]) for e in seen["episodes"]] == list(zip(written.starts, ends, strict=True))
    assert [e["tasks"] for e in seen["episodes"]] == [[TASKS[e % 3]] for e in range(len(written.lengths))]
    for index in written.probes:
        assert seen["items"][f"item/{index}"]["task"] == TASKS[int(episode_of[index]) % 3]


@pytest.mark.parametrize("name", ["av1", "h264"])
def test_lerobot_decodes_the_suites_frames_at_every_episode_edge(roundtrip, name) -> None:
    written = getattr(roundtrip, name)
    seen = roundtrip.summary["read"][f"suite/{name}"]
    if name == "av1":
        assert seen["depth_keys"] == [DEPTH]
    total = sum(written.lengths)
    with DatasetReader(written.root) as reader:
        if name == "av1":
            # The rollover really happened: several files per camera, and a second chunk folder.
            for key in written.cameras:
                assert len({ep.videos[key].file for ep in reader.episodes}) >= 2, key
            assert max(ep.videos[FRONT].file.chunk for ep in reader.episodes) >= 1
            assert max(ep.data_file.chunk for ep in reader.episodes) >= 1
        for index in written.probes:
            ours = reader.frame(index)
            for key in written.cameras:
                theirs = roundtrip.arrays[f"suite/{name}/item/{index}/{key}"]
                if key == DEPTH:
                    # Lossless 12-bit, returned by lerobot in millimetres as float.
                    np.testing.assert_array_equal(np.moveaxis(theirs, 0, -1), depth_of(index))
                    continue
                theirs = to_hwc_uint8(theirs)
                assert np.abs(theirs.astype(int) - ours[key].astype(int)).max() <= 1, (key, index)
                errors = {
                    i: mae(theirs, source(i, key)) for i in range(max(0, index - 2), min(total, index + 3))
                }
                assert min(errors, key=errors.get) == index, (
                    f"{key}: frame {index} decoded as another: {errors}"
                )
                assert errors[index] < CODEC_MAE


@pytest.mark.parametrize("name", ["av1", "h264"])
def test_lerobot_windows_equal_the_suite_readers_windows(roundtrip, name) -> None:
    written = getattr(roundtrip, name)
    padded: set[str] = set()
    with DatasetReader(written.root) as reader:
        for index in written.probes:
            ours = reader.window(index, DELTA, cameras=[])
            for key in DELTA:
                theirs = roundtrip.arrays[f"suite/{name}/window/{index}/{key}"]
                pad = roundtrip.arrays[f"suite/{name}/window/{index}/{key}_is_pad"]
                np.testing.assert_array_equal(pad, ours[f"{key}_is_pad"], err_msg=f"{key} at {index}")
                if key == FRONT:
                    diff = np.abs(to_hwc_uint8(theirs).astype(int) - ours[key].astype(int))
                    assert diff.max() <= 1, f"{key} window at {index}"
                else:
                    np.testing.assert_array_equal(theirs, ours[key], err_msg=f"{key} at {index}")
            padded |= {key for key in DELTA if ours[f"{key}_is_pad"].any()}
    assert padded == set(DELTA), "the probes must reach past the episode edges for every key"


# ------------------------------------------------------------------ lerobot's tools on a suite dataset


def _check_suite_readable(root: Path) -> None:
    problems = [str(p) for p in validate_dataset(root)]
    assert problems == [], problems


def _check_episodes(root: Path, source_episodes: list[int]) -> None:
    """``root`` holds, in order, the episodes ``source_episodes`` of the AV1 suite dataset."""
    lengths = AV1_LENGTHS
    starts = [int(s) for s in np.cumsum([0, *lengths[:-1]])]
    with DatasetReader(root) as reader:
        assert reader.num_episodes == len(source_episodes)
        for new, old in enumerate(source_episodes):
            original = range(starts[old], starts[old] + lengths[old])
            columns = reader.episode_columns(new)
            np.testing.assert_array_equal(columns["observation.state"], [state_of(i) for i in original])
            np.testing.assert_array_equal(columns["action"], [action_of(i) for i in original])
            np.testing.assert_array_equal(columns["frame_index"], np.arange(lengths[old]))
            assert {reader.tasks[t] for t in columns["task_index"]} == {TASKS[old % 3]}
            first = reader.episodes[new].dataset_from_index
            for offset in (0, lengths[old] - 1):
                item = reader.frame(first + offset)
                np.testing.assert_array_equal(item[DEPTH], depth_of(original[offset]))
                for key in (FRONT, WRIST):
                    assert mae(item[key], source(original[offset], key)) < CODEC_MAE, (key, new, offset)


def test_lerobot_deletes_episodes_of_a_suite_dataset(roundtrip) -> None:
    root = Path(roundtrip.edits["deleted"])
    _check_suite_readable(root)
    _check_episodes(root, [0, 2, 3])


def test_lerobot_splits_a_suite_dataset(roundtrip) -> None:
    for part, episodes in (("a", [0, 1]), ("b", [2, 3])):
        root = Path(roundtrip.edits["split"][part])
        _check_suite_readable(root)
        _check_episodes(root, episodes)


def test_lerobot_deletes_an_episode_from_the_middle_of_a_suite_video(roundtrip) -> None:
    # The H.264 dataset keeps its three episodes in one mp4: lerobot cuts episode 1 out and re-encodes.
    root = Path(roundtrip.edits["deleted_shared"])
    _check_suite_readable(root)
    lengths, starts = roundtrip.h264.lengths, roundtrip.h264.starts
    with DatasetReader(root) as reader:
        assert len({ep.videos[FRONT].file for ep in reader.episodes}) == 1
        assert [ep.length for ep in reader.episodes] == [lengths[0], lengths[2]]
        for new, old in enumerate([0, 2]):
            original = range(starts[old], starts[old] + lengths[old])
            columns = reader.episode_columns(new)
            np.testing.assert_array_equal(columns["observation.state"], [state_of(i) for i in original])
            first = reader.episodes[new].dataset_from_index
            for offset, index in enumerate(original):
                picture_read = reader.frame(first + offset)[FRONT]
                errors = {i: mae(picture_read, source(i, FRONT)) for i in original}
                assert min(errors, key=errors.get) == index and errors[index] < CODEC_MAE, (new, offset)


def test_lerobot_merges_suite_datasets(roundtrip) -> None:
    root = Path(roundtrip.edits["merged"])
    _check_suite_readable(root)
    _check_episodes(root, [2, 3, 0, 1])


# ------------------------------------------------------------------ lerobot's own dataset in the suite


def test_a_lerobot_written_dataset_validates_without_warnings(roundtrip, capsys) -> None:
    assert dataset_cli(["validate", str(roundtrip.written.root), "-q"]) == 0
    out = capsys.readouterr().out
    assert "WARNING" not in out and "ERROR" not in out, out
    info = json.loads((roundtrip.written.root / "meta/info.json").read_text())
    camera_info = info["features"]["observation.images.top"]["info"]
    # What made 0.6.1 datasets fail before: the depth marker under its new name only.
    assert "is_depth_map" in camera_info and "video.is_depth_map" not in camera_info


def assert_reads_agree(
    roundtrip: SimpleNamespace, name: str, root: Path, probes: list[int], delta: dict
) -> None:
    """The suite reader returns what lerobot returned for dataset ``name``: every number exactly, the same
    tasks and episode boundaries, frames within one grey level, and the same ``delta_timestamps`` windows."""
    seen = roundtrip.summary["read"][name]
    depth_keys = set(seen["depth_keys"])
    prefix = f"{name}/column/"
    columns = {k[len(prefix) :]: v for k, v in roundtrip.arrays.items() if k.startswith(prefix)}
    with DatasetReader(root) as reader:
        assert reader.num_frames == seen["num_frames"]
        assert reader.tasks == seen["tasks"]
        assert [(e.dataset_from_index, e.dataset_to_index) for e in reader.episodes] == [
            (e["from"], e["to"]) for e in seen["episodes"]
        ]
        assert [list(e.tasks) for e in reader.episodes] == [e["tasks"] for e in seen["episodes"]]
        for episode in range(reader.num_episodes):
            ours = reader.episode_columns(episode)
            rows = slice(seen["episodes"][episode]["from"], seen["episodes"][episode]["to"])
            for key, value in ours.items():
                np.testing.assert_array_equal(value, columns[key][rows].reshape(value.shape), err_msg=key)
        for index in probes:
            ours = reader.frame(index)
            assert ours["task"] == seen["items"][f"item/{index}"]["task"]
            for key in reader.camera_keys:
                theirs = as_suite_picture(roundtrip.arrays[f"{name}/item/{index}/{key}"], key in depth_keys)
                assert ours[key].shape == theirs.shape == reader.image_shape(key)
                assert np.abs(theirs - ours[key].astype(float)).max() <= 1, (key, index)
            window = reader.window(index, delta, cameras=[])
            for key in delta:
                theirs = roundtrip.arrays[f"{name}/window/{index}/{key}"]
                pad = roundtrip.arrays[f"{name}/window/{index}/{key}_is_pad"]
                np.testing.assert_array_equal(pad, window[f"{key}_is_pad"], err_msg=f"{key} at {index}")
                if key.startswith("observation.images."):
                    theirs = as_suite_picture(theirs, key in depth_keys)
                    assert np.abs(theirs - window[key].astype(float)).max() <= 1, f"{key} at {index}"
                else:
                    np.testing.assert_array_equal(theirs, window[key], err_msg=f"{key} at {index}")


def test_the_suite_reads_what_lerobot_reads_from_its_own_dataset(roundtrip) -> None:
    written = roundtrip.written
    seen = roundtrip.summary["read"]["lerobot/written"]
    assert seen["num_frames"] == sum(n for _, n in written.episodes)
    assert seen["tasks"] == ["pick the red cube", "wave"]
    with DatasetReader(written.root) as reader:
        assert {k: list(reader.image_shape(k)[:2]) for k in reader.camera_keys} == written.cameras
    assert_reads_agree(roundtrip, "lerobot/written", written.root, written.probes, roundtrip.delta_written)


def test_the_suite_reads_lerobots_log_quantized_depth_in_millimetres(roundtrip, capsys) -> None:
    depth = roundtrip.depth
    assert roundtrip.summary["read"]["lerobot/depth"]["depth_keys"] == ["observation.images.range"]
    assert dataset_cli(["validate", str(depth.root), "-q"]) == 0
    assert "WARNING" not in capsys.readouterr().out
    assert_reads_agree(roundtrip, "lerobot/depth", depth.root, depth.probes, depth.delta)
    with DatasetReader(depth.root) as reader:
        for index in depth.probes:
            ours = reader.frame(index)["observation.images.range"]
            assert ours.dtype == np.uint16
            # 12-bit log codes over 0.01-10 m: about 1.5 mm apart at 5 m.
            error = np.abs(ours.astype(int) - lerobot_depth_source(index, 24, 32).astype(int))
            assert error.max() <= 3, index
    with pytest.raises(FeatureError, match="quantized by lerobot"):
        DatasetWriter.append(depth.root)


def test_lerobot_reads_a_bag_converted_dataset_as_the_suite_does(roundtrip) -> None:
    bag = roundtrip.bag
    seen = roundtrip.summary["read"]["suite/bag"]
    assert seen["warnings"] == []
    assert [e["tasks"] for e in seen["episodes"]] == [[task] for task in bag.tasks]
    # Every state and action lerobot returns is one the bag carried (the converter resamples, never blends).
    sent = {tuple(state_of(i)[:3]) for i in [*range(9), *range(100, 107)]}
    assert {tuple(row) for row in roundtrip.arrays["suite/bag/column/observation.state"]} <= sent
    sent = {tuple(action_of(i)[:3]) for i in [*range(9), *range(100, 107)]}
    assert {tuple(row) for row in roundtrip.arrays["suite/bag/column/action"]} <= sent
    assert_reads_agree(roundtrip, "suite/bag", bag.root, bag.probes, DELTA)


def test_the_suite_trains_on_a_lerobot_written_dataset(roundtrip, tmp_path) -> None:
    from lerobot_training.train_cli import main as train_cli

    out = tmp_path / "act"
    tiny = {
        "policy.type": "act",
        "policy.dim_model": 32,
        "policy.n_heads": 2,
        "policy.dim_feedforward": 64,
        "policy.n_encoder_layers": 1,
        "policy.n_decoder_layers": 1,
        "policy.n_vae_encoder_layers": 1,
        "policy.latent_dim": 4,
        "policy.chunk_size": 4,
        "policy.n_action_steps": 4,
        "policy.pretrained_backbone_weights": "none",
        "policy.device": "cpu",
        "dataset.root": roundtrip.written.root,
        "output_dir": out,
        "steps": 2,
        "batch_size": 2,
        "num_workers": 0,
        "log_freq": 1,
    }
    assert train_cli([f"--{key}={value}" for key, value in tiny.items()]) == 0
    model = out / "checkpoints" / "last" / "pretrained_model"
    assert (model / "model.safetensors").is_file()
    config = json.loads((model / "config.json").read_text())
    assert set(config["input_features"]) >= set(roundtrip.written.cameras)
