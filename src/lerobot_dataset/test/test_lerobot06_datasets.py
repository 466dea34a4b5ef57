"""What lerobot 0.6 writes differently from 0.4: the depth marker (``is_depth_map`` instead of
``video.is_depth_map``; both accepted, both written), depth quantized on a log scale, and HEVC depth videos
with B-frames."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from lerobot_dataset.cli import main
from lerobot_dataset.features import DepthQuantizer, is_depth
from lerobot_dataset.validate import validate_dataset
from lerobot_dataset.video import VideoReader

DEPTH = "observation.images.depth"
CAMERA = "observation.images.cam0"


@pytest.fixture(scope="module")
def good(kit, tmp_path_factory) -> Path:
    feats = kit.features(video_cameras=1, depth=True)
    return kit.make_dataset(tmp_path_factory.mktemp("markers") / "ds", [4, 3], feats).root


def _with_info(good: Path, tmp_path: Path, change) -> Path:
    """A copy of ``good`` whose info.json went through ``change(info)``."""
    root = tmp_path / "copy"
    root.mkdir()
    for path in good.rglob("*"):
        if path.is_file():
            target = root / path.relative_to(good)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    info = json.loads((root / "meta/info.json").read_text())
    change(info)
    (root / "meta/info.json").write_text(json.dumps(info, indent=4))
    return root


def _video_infos(info: dict) -> list[dict]:
    return [ft["info"] for ft in info["features"].values() if ft["dtype"] == "video"]


def test_the_writer_records_both_markers(good) -> None:
    info = json.loads((good / "meta/info.json").read_text())
    for key, ft in info["features"].items():
        if ft["dtype"] == "video":
            assert ft["info"]["is_depth_map"] is ft["info"]["video.is_depth_map"] is (key == DEPTH)


def test_depth_carries_the_identity_quantizer_of_lerobot_06(good) -> None:
    # Without it lerobot 0.6 log-dequantizes the 12-bit values: 0 reads as 10 mm, 388 as 488 mm.
    features = json.loads((good / "meta/info.json").read_text())["features"]
    depth = features[DEPTH]["info"]
    assert depth["video.use_log"] is False and depth["depth_unit"] == "mm"
    assert (depth["video.depth_min"], depth["video.depth_max"]) == (0.0, 4.095)
    assert "video.use_log" not in features["observation.images.cam0"]["info"]


@pytest.mark.parametrize(
    "dropped", ["video.is_depth_map", "is_depth_map"], ids=["lerobot-0.6", "lerobot-0.4"]
)
def test_either_marker_alone_is_valid(good, tmp_path, capsys, dropped) -> None:
    def drop(info: dict) -> None:
        for block in _video_infos(info):
            del block[dropped]

    root = _with_info(good, tmp_path, drop)
    assert validate_dataset(root) == []
    assert main(["validate", str(root), "-q"]) == 0
    assert "WARNING" not in capsys.readouterr().out


def test_depth_is_recognised_by_the_new_marker_alone() -> None:
    # A three-channel shape so that only the marker can say "depth".
    feature = {"dtype": "video", "shape": [4, 4, 3], "info": {"is_depth_map": True}}
    assert is_depth(feature)
    assert is_depth({**feature, "info": {"video.is_depth_map": True}})
    assert not is_depth({**feature, "info": {"is_depth_map": False}})


def test_no_marker_at_all_is_named(good, tmp_path) -> None:
    def drop(info: dict) -> None:
        for block in _video_infos(info):
            del block["is_depth_map"], block["video.is_depth_map"]

    problems = [str(p) for p in validate_dataset(_with_info(good, tmp_path, drop))]
    assert problems == [
        f"WARNING: meta/info.json feature {key!r}: info has no depth marker (is_depth_map or "
        "video.is_depth_map); lerobot reads it as colour"
        for key in (CAMERA, DEPTH)
    ], problems


def test_contradicting_markers_are_an_error(good, tmp_path) -> None:
    def contradict(info: dict) -> None:
        info["features"][DEPTH]["info"]["is_depth_map"] = False

    problems = [str(p) for p in validate_dataset(_with_info(good, tmp_path, contradict))]
    assert any("contradicting depth markers" in p for p in problems), problems


def test_a_faulty_video_feature_does_not_make_video_path_look_superfluous(good, tmp_path) -> None:
    def break_codec(info: dict) -> None:
        del info["features"][DEPTH]["info"]["video.codec"]

    problems = [str(p) for p in validate_dataset(_with_info(good, tmp_path, break_codec))]
    assert any("lacks video.codec" in p for p in problems), problems
    assert not any("video_path" in p for p in problems), problems


def test_lerobot_quantized_depth_reads_as_millimetres() -> None:
    def depth(**info: object) -> dict:
        return {"dtype": "video", "shape": [4, 4, 1], "info": {"is_depth_map": True, **info}}

    # lerobot 0.6's default depth info: log scale over 0.01-10 m with a 3.5 m shift.
    quantizer = DepthQuantizer.of(
        depth(**{"video.depth_min": 0.01, "video.depth_max": 10.0, "video.shift": 3.5, "video.use_log": True})
    )
    assert quantizer is not None
    codes = np.array([0, 1, 2048, 4094, 4095], dtype=np.uint16)
    # exp(log(3.51) + code / 4095 * log(13.5 / 3.51)) - 3.5 metres
    np.testing.assert_array_equal(quantizer.millimetres(codes), [10, 11, 3385, 9996, 10000])
    # The suite's own depth and depth with no quantizer recorded are millimetres already.
    suite = {"video.depth_min": 0.0, "video.depth_max": 4.095, "video.shift": 0.0, "video.use_log": False}
    assert DepthQuantizer.of(depth(**suite)) is None
    assert DepthQuantizer.of(depth()) is None


def test_frames_of_a_video_with_b_frames_are_found_after_a_backward_seek(tmp_path) -> None:
    # x265 with a GOP of 2 puts B-frames between keyframes, as lerobot's depth encoder does; the container
    # indexes keyframes by decode time, so seeking to a B-frame's time lands after it.
    path = tmp_path / "b_frames.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx265", rate=30)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        stream.options = {"g": "2", "x265-params": "log-level=error"}
        for k in range(12):
            picture = np.full((24, 32, 3), k * 20, dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    reader = VideoReader(path)
    try:
        for k in (6, 5, 9, 1, 0, 11, 3):
            assert abs(float(reader.frames_at([k / 30]).mean()) - k * 20) < 3, k
    finally:
        reader.close()
