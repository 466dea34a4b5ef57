"""What the writer puts on disk comes back from the reader, and the files follow the v3.0 spec exactly."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_dataset import DatasetReader, FileLimits, VideoEncoderConfig
from lerobot_dataset import stats as stats_lib
from lerobot_dataset.metadata import INFO_KEYS
from lerobot_dataset.validate import validate_dataset
from lerobot_dataset.video import decoded_timestamps

# Mean absolute error of an AV1 (CRF 30) frame against its source on these synthetic pictures.
CODEC_MAE = 8.0


def test_numbers_and_defaults_come_back_exactly(kit, rolled_dataset) -> None:
    with DatasetReader(rolled_dataset.root) as reader:
        assert reader.num_episodes == 6 and reader.num_frames == sum(rolled_dataset.lengths)
        assert reader.fps == kit.FPS and reader.robot_type == "so101"
        for episode, (start, length) in enumerate(
            zip(rolled_dataset.starts, rolled_dataset.lengths, strict=True)
        ):
            columns = reader.episode_columns(episode)
            np.testing.assert_array_equal(
                columns["observation.state"], [kit.state_of(start + i) for i in range(length)]
            )
            np.testing.assert_array_equal(
                columns["action"], [kit.action_of(start + i) for i in range(length)]
            )
            np.testing.assert_array_equal(columns["index"], np.arange(start, start + length))
            np.testing.assert_array_equal(columns["frame_index"], np.arange(length))
            np.testing.assert_array_equal(columns["episode_index"], np.full(length, episode))
            np.testing.assert_array_equal(
                columns["timestamp"], (np.arange(length) / kit.FPS).astype(np.float32)
            )
            assert reader.tasks[int(columns["task_index"][0])] == kit.task_of(episode)
        item = reader.frame(rolled_dataset.starts[2] + 3, decode=False)
        assert item["task"] == kit.task_of(2) and item["frame_index"] == 3 and item["episode_index"] == 2
        assert item["next.reward"] == np.float32((rolled_dataset.starts[2] + 3) % 3)


def test_camera_frames_are_the_right_ones_across_episode_and_file_boundaries(kit, rolled_dataset) -> None:
    total = sum(rolled_dataset.lengths)
    sources = {cam: {i: kit.camera_frame(i, cam) for i in range(total)} for cam in range(3)}
    keys = ["observation.images.cam0", "observation.images.cam1", "observation.images.still0"]
    with DatasetReader(rolled_dataset.root) as reader:
        files = {ep.videos[keys[0]].file for ep in reader.episodes}
        assert len(files) >= 2, "the tiny limits must force the videos into more than one file"
        # Every episode's first and last frame, plus one inside: the off-by-one places.
        probes = sorted(
            {
                i
                for s, n in zip(rolled_dataset.starts, rolled_dataset.lengths, strict=True)
                for i in (s, s + n // 2, s + n - 1)
            }
        )
        for index in probes:
            item = reader.frame(index)
            for cam, key in enumerate(keys[:2]):
                match, error = kit.best_match(item[key], sources[cam])
                assert match == index, f"{key}: frame {index} decoded as frame {match}"
                assert error < CODEC_MAE
            np.testing.assert_array_equal(item[keys[2]], sources[2][index])  # PNG is lossless
        seen = 0
        for index, item in enumerate(reader.iter_frames()):
            assert item["index"] == index
            assert (
                kit.best_match(
                    item[keys[0]], {i: sources[0][i] for i in range(max(0, index - 2), min(total, index + 3))}
                )[0]
                == index
            )
            seen += 1
        assert seen == total


def test_info_json_has_every_key_and_the_video_description(kit, rolled_dataset) -> None:
    info = json.loads((rolled_dataset.root / "meta/info.json").read_text())
    assert tuple(info) == INFO_KEYS
    assert info["total_episodes"] == 6 and info["total_frames"] == sum(rolled_dataset.lengths)
    assert info["total_tasks"] == 3 and info["splits"] == {"train": "0:6"} and info["fps"] == kit.FPS
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    defaults = {
        k: info["features"][k] for k in ("timestamp", "frame_index", "episode_index", "index", "task_index")
    }
    assert defaults["timestamp"] == {"dtype": "float32", "shape": [1], "names": None}
    assert all(
        ft == {"dtype": "int64", "shape": [1], "names": None}
        for k, ft in defaults.items()
        if k != "timestamp"
    )
    video = info["features"]["observation.images.cam0"]
    assert video["shape"] == [kit.HEIGHT, kit.WIDTH, 3] and video["names"] == ["height", "width", "channels"]
    assert {
        k: video["info"][k]
        for k in (
            "video.height",
            "video.width",
            "video.codec",
            "video.pix_fmt",
            "video.is_depth_map",
            "video.fps",
            "video.channels",
            "has_audio",
        )
    } == {
        "video.height": kit.HEIGHT,
        "video.width": kit.WIDTH,
        "video.codec": "av1",
        "video.pix_fmt": "yuv420p",
        "video.is_depth_map": False,
        "video.fps": kit.FPS,
        "video.channels": 3,
        "has_audio": False,
    }
    assert video["info"]["video.g"] == 2 and video["info"]["video.crf"] == 30
    assert "info" not in info["features"]["observation.images.still0"]


def test_tasks_parquet_has_the_pandas_task_index(kit, rolled_dataset) -> None:
    path = rolled_dataset.root / "meta/tasks.parquet"
    table = pq.read_table(path)
    assert table.schema.pandas_metadata["index_columns"] == ["task"]
    assert table.schema.field("task_index").type == pa.int64()
    frame = pd.read_parquet(path)
    assert frame.index.name == "task"
    assert list(frame.index) == [kit.task_of(0), kit.task_of(1), kit.task_of(2)]
    assert frame["task_index"].tolist() == [0, 1, 2]


def test_episodes_parquet_rows_point_at_the_right_places(kit, rolled_dataset) -> None:
    files = sorted((rolled_dataset.root / "meta/episodes").glob("*/*.parquet"))
    table = pa.concat_tables([pq.read_table(f) for f in files])
    rows = table.to_pylist()
    assert [r["episode_index"] for r in rows] == list(range(6))
    assert [r["length"] for r in rows] == rolled_dataset.lengths
    assert [r["dataset_from_index"] for r in rows] == rolled_dataset.starts
    assert table.schema.field("tasks").type == pa.list_(pa.string())
    assert table.schema.field("stats/observation.state/mean").type == pa.list_(pa.float64())
    assert table.schema.field("stats/observation.state/count").type == pa.list_(pa.int64())
    assert np.asarray(rows[0]["stats/observation.images.cam0/mean"]).shape == (3, 1, 1)
    for key in ("observation.images.cam0", "observation.images.cam1"):
        previous = None
        for row in rows:
            here = (row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"])
            expected_from = previous[1] if previous and previous[0] == here else 0.0
            assert row[f"videos/{key}/from_timestamp"] == expected_from
            assert abs(row[f"videos/{key}/to_timestamp"] - expected_from - row["length"] / kit.FPS) < 1e-9
            previous = (here, row[f"videos/{key}/to_timestamp"])
        # Each mp4 decodes to exactly its episodes' frames at k/fps.
        for here in {(r[f"videos/{key}/chunk_index"], r[f"videos/{key}/file_index"]) for r in rows}:
            path = rolled_dataset.root / f"videos/{key}/chunk-{here[0]:03d}/file-{here[1]:03d}.mp4"
            frames = sum(
                r["length"]
                for r in rows
                if (r[f"videos/{key}/chunk_index"], r[f"videos/{key}/file_index"]) == here
            )
            np.testing.assert_allclose(decoded_timestamps(path), np.arange(frames) / kit.FPS, atol=1e-6)
    data_files = {(r["data/chunk_index"], r["data/file_index"]) for r in rows}
    assert len(data_files) >= 2 and len(data_files) < 6, (
        "data files must both roll over and hold several episodes"
    )
    for path in sorted((rolled_dataset.root / "data").glob("*/*.parquet")):
        assert pq.ParquetFile(path).schema_arrow.names == [
            "observation.state",
            "action",
            "next.reward",
            "observation.images.still0",
            "timestamp",
            "frame_index",
            "episode_index",
            "index",
            "task_index",
        ]


def test_stats_follow_the_spec(kit, rolled_dataset) -> None:
    keys = list(json.loads((rolled_dataset.root / "meta/info.json").read_text())["features"])
    files = sorted((rolled_dataset.root / "meta/episodes").glob("*/*.parquet"))
    rows = pa.concat_tables([pq.read_table(f) for f in files]).to_pylist()
    per_episode = []
    for row, start, length in zip(rows, rolled_dataset.starts, rolled_dataset.lengths, strict=True):
        ep = {k: {n: np.asarray(row[f"stats/{k}/{n}"]) for n in stats_lib.STAT_NAMES} for k in keys}
        per_episode.append(ep)
        states = np.stack([kit.state_of(start + i) for i in range(length)])
        np.testing.assert_allclose(ep["observation.state"]["mean"], states.mean(axis=0), rtol=1e-6)
        np.testing.assert_allclose(ep["observation.state"]["std"], states.std(axis=0), rtol=1e-6)
        np.testing.assert_allclose(ep["observation.state"]["min"], states.min(axis=0))
        np.testing.assert_allclose(ep["observation.state"]["max"], states.max(axis=0))
        assert ep["observation.state"]["count"].tolist() == [length]
        # Quantile q from the 5000-bin histogram lies in the bin of the ceil(q * n)-th smallest value.
        bin_width = (states.max(axis=0) - states.min(axis=0)).astype(float) / 5000
        ordered = np.sort(states.astype(float), axis=0)
        for name, q in stats_lib.QUANTILES.items():
            order_stat = ordered[int(np.ceil(q * length)) - 1]
            assert np.all(np.abs(ep["observation.state"][name] - order_stat) <= bin_width + 1e-9), name
        assert ep["index"]["min"].tolist() == [start] and ep["index"]["max"].tolist() == [start + length - 1]
        assert ep["episode_index"]["q50"].tolist() == [len(per_episode) - 1]
        assert ep["observation.images.cam1"]["count"].tolist() == [stats_lib.num_image_samples(length)]
        # Image statistics: pixels of the sampled source frames (not the decoded video), scaled to [0, 1].
        sampled = [kit.camera_frame(start + i, 1) for i in stats_lib.sample_indices(length)]
        pixels = np.stack(sampled).astype(float) / 255
        for name, value in (
            ("mean", pixels.mean(axis=(0, 1, 2))),
            ("std", pixels.std(axis=(0, 1, 2))),
            ("min", pixels.min(axis=(0, 1, 2))),
            ("max", pixels.max(axis=(0, 1, 2))),
        ):
            assert ep["observation.images.cam1"][name].shape == (3, 1, 1)
            np.testing.assert_allclose(ep["observation.images.cam1"][name].ravel(), value, err_msg=name)
    saved = json.loads((rolled_dataset.root / "meta/stats.json").read_text())
    assert list(saved) == keys
    expected = stats_lib.aggregate(per_episode)
    for key, feature_stats in saved.items():
        assert list(feature_stats) == list(stats_lib.STAT_NAMES)
        for name, value in feature_stats.items():
            np.testing.assert_allclose(value, expected[key][name], rtol=1e-9, err_msg=f"{key} {name}")
    total = sum(rolled_dataset.lengths)
    assert saved["observation.state"]["count"] == [total]
    all_states = np.stack([kit.state_of(i) for i in range(total)])
    np.testing.assert_allclose(saved["observation.state"]["mean"], all_states.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(saved["observation.state"]["std"], all_states.std(axis=0), rtol=1e-6)
    assert saved["index"]["min"] == [0] and saved["index"]["max"] == [total - 1]
    assert np.asarray(saved["observation.images.cam0"]["q50"]).shape == (3, 1, 1)


def test_dataset_validates(kit, rolled_dataset) -> None:
    assert validate_dataset(rolled_dataset.root) == []


def test_episode_metadata_rolls_over_at_the_data_size_limit(kit, tmp_path) -> None:
    written = kit.make_dataset(
        tmp_path / "ds",
        [5, 6, 7],
        kit.features(video_cameras=1),
        limits=FileLimits(data_files_size_in_mb=0.001, video_files_size_in_mb=0.001),
    )
    assert len(list((written.root / "meta/episodes").glob("*/*.parquet"))) == 3
    assert len(list((written.root / "data").glob("*/*.parquet"))) == 3
    assert len(list((written.root / "videos/observation.images.cam0").glob("*/*.mp4"))) == 3
    with DatasetReader(written.root) as reader:
        assert [ep.meta_file.file for ep in reader.episodes] == [0, 1, 2]
        assert (
            kit.best_match(
                reader.frame(11)["observation.images.cam0"], {i: kit.camera_frame(i, 0) for i in range(18)}
            )[0]
            == 11
        )
    assert validate_dataset(written.root) == []


def test_chunk_index_advances_after_chunks_size_files(kit, tmp_path) -> None:
    written = kit.make_dataset(
        tmp_path / "ds",
        [3, 3, 3],
        kit.features(video_cameras=1),
        limits=FileLimits(chunks_size=2, data_files_size_in_mb=0.001, video_files_size_in_mb=0.001),
    )
    assert sorted(str(p.relative_to(written.root)) for p in (written.root / "data").glob("*/*.parquet")) == [
        "data/chunk-000/file-000.parquet",
        "data/chunk-000/file-001.parquet",
        "data/chunk-001/file-000.parquet",
    ]
    with DatasetReader(written.root) as reader:
        np.testing.assert_array_equal(reader.frame(7)["observation.state"], kit.state_of(7))
    assert validate_dataset(written.root) == []


def test_h264_option_round_trips(kit, tmp_path) -> None:
    written = kit.make_dataset(
        tmp_path / "ds", [8, 6], kit.features(video_cameras=1), video=VideoEncoderConfig.h264()
    )
    info = json.loads((written.root / "meta/info.json").read_text())
    assert info["features"]["observation.images.cam0"]["info"]["video.codec"] == "h264"
    assert len(list((written.root / "meta/episodes").glob("*/*.parquet"))) == 1  # the 2nd row joined the file
    with DatasetReader(written.root) as reader:
        for index in (0, 7, 8, 13):
            match, error = kit.best_match(
                reader.frame(index)["observation.images.cam0"], {i: kit.camera_frame(i, 0) for i in range(14)}
            )
            assert match == index and error < CODEC_MAE
    assert validate_dataset(written.root) == []


def test_add_episode_accepts_whole_arrays(kit, tmp_path) -> None:
    feats = kit.features(video_cameras=1)
    from lerobot_dataset import DatasetWriter

    with DatasetWriter.create(tmp_path / "ds", fps=kit.FPS, features=feats) as writer:
        frames = [kit.frame_of(i, feats) for i in range(9)]
        data = {key: np.stack([f[key] for f in frames]) for key in feats}
        assert writer.add_episode(data, task="stack") == 0
        assert writer.num_frames == 9
    with DatasetReader(tmp_path / "ds") as reader:
        np.testing.assert_array_equal(reader.episode_columns(0)["action"], data["action"])
        assert reader.tasks == ["stack"]
