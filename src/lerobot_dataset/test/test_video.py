"""Video primitives: joined files keep frame k at k/fps; depth maps are lossless; codec errors help."""

from __future__ import annotations

import json

import numpy as np
import pytest

from lerobot_dataset import DatasetReader, FrameTimestampError, VideoCodecError, VideoEncoderConfig
from lerobot_dataset.validate import validate_dataset
from lerobot_dataset.video import (
    VideoFileEncoder,
    VideoReader,
    concat_videos,
    decoded_timestamps,
    probe_video,
)


def _encode(path, frames, config=None, fps=30):
    encoder = VideoFileEncoder(
        path, fps, frames[0].shape[1], frames[0].shape[0], config or VideoEncoderConfig()
    )
    for frame in frames:
        encoder.encode(frame)
    return encoder.close()


@pytest.mark.parametrize("config", [VideoEncoderConfig(), VideoEncoderConfig.h264()], ids=["av1", "h264"])
def test_concatenated_files_keep_constant_frame_rate(kit, tmp_path, config) -> None:
    parts = [
        [kit.camera_frame(i, 0) for i in range(start, start + n)] for start, n in ((0, 5), (5, 3), (8, 4))
    ]
    paths = []
    for k, frames in enumerate(parts):
        paths.append(tmp_path / f"part{k}.mp4")
        assert _encode(paths[-1], frames, config) == len(frames)
    joined = tmp_path / "joined.mp4"
    concat_videos(paths, joined)
    np.testing.assert_allclose(decoded_timestamps(joined), np.arange(12) / 30, atol=1e-9)
    probe = probe_video(joined)
    assert (probe.codec, probe.width, probe.height, probe.fps, probe.frames) == (
        config.canonical_codec,
        kit.WIDTH,
        kit.HEIGHT,
        30,
        12,
    )
    reader = VideoReader(joined)
    sources = {i: kit.camera_frame(i, 0) for i in range(12)}
    frames = reader.frames_at([11 / 30, 5 / 30, 4 / 30])  # any order, across part boundaries
    assert [kit.best_match(f, sources)[0] for f in frames] == [11, 5, 4]
    with pytest.raises(FrameTimestampError, match="no frame within"):
        reader.frames_at([5.5 / 30])
    with pytest.raises(FrameTimestampError, match="ends earlier"):
        reader.frames_at([12 / 30])
    reader.close()


def test_joining_different_encodings_is_refused(kit, tmp_path) -> None:
    _encode(tmp_path / "a.mp4", [kit.camera_frame(0, 0)])
    _encode(tmp_path / "b.mp4", [kit.camera_frame(1, 0)], VideoEncoderConfig.h264())
    with pytest.raises(VideoCodecError, match="same encoder settings"):
        concat_videos([tmp_path / "a.mp4", tmp_path / "b.mp4"], tmp_path / "c.mp4")


def test_missing_encoder_names_the_h264_option() -> None:
    with pytest.raises(VideoCodecError, match="no 'libnothing' encoder"):
        VideoEncoderConfig(codec="libnothing").check_available()
    with pytest.raises(VideoCodecError, match="cannot write pixel format rgb48le"):
        VideoEncoderConfig(pix_fmt="rgb48le").check_available()
    VideoEncoderConfig().check_available()  # this PyAV has SVT-AV1 and dav1d
    VideoEncoderConfig.depth().check_available()


def test_depth_maps_round_trip_losslessly(kit, tmp_path) -> None:
    written = kit.make_dataset(tmp_path / "ds", [5, 4], kit.features(video_cameras=1, depth=True))
    info = json.loads((written.root / "meta/info.json").read_text())["features"]["observation.images.depth"]
    assert info["shape"] == [kit.HEIGHT, kit.WIDTH, 1]
    assert info["info"]["video.is_depth_map"] is True and info["info"]["video.codec"] == "hevc"
    assert info["info"]["video.pix_fmt"] == "gray12le" and info["info"]["video.channels"] == 1
    with DatasetReader(written.root) as reader:
        for index in (0, 4, 5, 8):
            depth = reader.frame(index)["observation.images.depth"]
            assert depth.dtype == np.uint16 and depth.shape == (kit.HEIGHT, kit.WIDTH, 1)
            np.testing.assert_array_equal(depth[..., 0], kit.depth_frame(index))
    stats = json.loads((written.root / "meta/stats.json").read_text())["observation.images.depth"]
    assert np.asarray(stats["mean"]).shape == (1, 1, 1)
    sampled = np.stack([kit.depth_frame(i) for i in range(9)]).astype(float)
    assert stats["max"] == [[[sampled.max()]]]  # depth statistics stay in recorded units
    np.testing.assert_allclose(np.asarray(stats["mean"]).ravel(), [sampled.mean()])
    assert validate_dataset(written.root) == []
