"""Statistics as the spec defines them: sampling, downsampling, histogram quantiles, aggregation."""

from __future__ import annotations

import numpy as np

from lerobot_dataset import stats as stats_lib


def test_image_sample_counts_match_the_library_heuristic() -> None:
    assert [stats_lib.num_image_samples(n) for n in (1, 7, 100, 500, 1000, 2000, 5000, 20000)] == [
        1,
        7,
        100,
        105,
        177,
        299,
        594,
        1681,
    ]
    assert stats_lib.num_image_samples(10**7) == 10_000
    assert stats_lib.sample_indices(5) == [0, 1, 2, 3, 4]
    indices = stats_lib.sample_indices(1000)
    assert len(indices) == 177 and indices[0] == 0 and indices[-1] == 999
    assert indices == np.round(np.linspace(0, 999, 177)).astype(int).tolist()


def test_large_frames_are_strided_to_about_150_pixels() -> None:
    assert stats_lib.downsample(np.zeros((480, 640, 3))).shape == (120, 160, 3)
    assert stats_lib.downsample(np.zeros((720, 1280, 3))).shape == (90, 160, 3)
    assert stats_lib.downsample(np.zeros((240, 299, 3))).shape == (240, 299, 3)  # below 300 px: untouched
    assert stats_lib.downsample(np.zeros((300, 200, 1))).shape == (150, 100, 1)


def test_numeric_stats_and_histogram_quantiles() -> None:
    values = np.arange(1001, dtype=np.float32)  # 0..1000: the q-quantile is q * 1000 within a bin
    stats = stats_lib.numeric_stats(values)
    assert (
        stats["min"].tolist() == [0] and stats["max"].tolist() == [1000] and stats["count"].tolist() == [1001]
    )
    np.testing.assert_allclose(stats["mean"], [500])
    np.testing.assert_allclose(stats["std"], [values.std()])
    for name, q in stats_lib.QUANTILES.items():
        np.testing.assert_allclose(stats[name], [q * 1000], atol=1000 / 5000 + 1e-6, err_msg=name)
    vectors = np.stack([np.linspace(-1, 1, 50), np.full(50, 3.0)], axis=1)
    stats = stats_lib.numeric_stats(vectors)
    assert stats["mean"].shape == (2,) and stats["q50"][1] == 3.0 and stats["std"][1] == 0.0


def test_single_frame_quantiles_are_the_value() -> None:
    stats = stats_lib.numeric_stats(np.array([[1.5, -2.0]]))
    for name in stats_lib.QUANTILES:
        assert stats[name].tolist() == [1.5, -2.0]
    assert stats["std"].tolist() == [0.0, 0.0]


def test_pixel_counter_matches_direct_computation() -> None:
    rng = np.random.default_rng(1)
    frames = rng.integers(0, 256, (7, 20, 30, 3), dtype=np.uint8)
    counter = stats_lib.PixelCounter(channels=3, levels=256)
    for frame in frames:
        counter.add(frame)
    stats = counter.stats(scale=255.0)
    pixels = frames.reshape(-1, 3).astype(np.float64) / 255
    np.testing.assert_allclose(stats["mean"].ravel(), pixels.mean(axis=0))
    np.testing.assert_allclose(stats["std"].ravel(), pixels.std(axis=0))
    np.testing.assert_allclose(stats["min"].ravel(), pixels.min(axis=0))
    np.testing.assert_allclose(stats["max"].ravel(), pixels.max(axis=0))
    assert stats["q50"].shape == (3, 1, 1) and stats["count"].tolist() == [7]
    np.testing.assert_allclose(stats["q50"].ravel(), np.median(pixels, axis=0), atol=1 / 255)


def test_aggregate_equals_stats_of_the_concatenation() -> None:
    rng = np.random.default_rng(2)
    parts = [rng.normal(i, 1 + i, (n, 4)) for i, n in enumerate((30, 7, 120))]
    combined = stats_lib.aggregate([{"x": stats_lib.numeric_stats(p)} for p in parts])["x"]
    whole = np.concatenate(parts)
    np.testing.assert_allclose(combined["mean"], whole.mean(axis=0))
    np.testing.assert_allclose(combined["std"], whole.std(axis=0))
    np.testing.assert_allclose(combined["min"], whole.min(axis=0))
    np.testing.assert_allclose(combined["max"], whole.max(axis=0))
    assert combined["count"].tolist() == [157]
    per_part_q50 = np.stack([stats_lib.numeric_stats(p)["q50"] for p in parts])
    np.testing.assert_allclose(
        combined["q50"], (per_part_q50 * np.array([[30], [7], [120]])).sum(axis=0) / 157
    )


def test_json_round_trip_keeps_shapes() -> None:
    counter = stats_lib.PixelCounter(3, 256)
    counter.add(np.zeros((4, 4, 3), np.uint8))
    stats = {"cam": counter.stats(255.0), "x": stats_lib.numeric_stats(np.ones((3, 2)))}
    data = stats_lib.to_json(stats)
    assert data["cam"]["mean"] == [[[0.0]], [[0.0]], [[0.0]]] and data["cam"]["count"] == [1]
    assert data["x"]["count"] == [3] and data["x"]["q99"] == [1.0, 1.0]
    back = stats_lib.from_json(data)
    assert back["cam"]["std"].shape == (3, 1, 1)
