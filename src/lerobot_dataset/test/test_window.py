"""delta_timestamps windows (the training primitive) and the torch Dataset wrapper."""

from __future__ import annotations

import numpy as np
import pytest

from lerobot_dataset import DatasetReader

CAMERA = "observation.images.cam0"


@pytest.fixture(scope="module")
def two_episodes(kit, tmp_path_factory):
    """Episodes of 6 and 5 frames: global frames 0..5 and 6..10."""
    return kit.make_dataset(tmp_path_factory.mktemp("window") / "ds", [6, 5])


def test_windows_clamp_to_the_episode_and_flag_padding(kit, two_episodes) -> None:
    dt = 1 / kit.FPS
    with DatasetReader(two_episodes.root) as reader:
        item = reader.window(6, {"action": [-2 * dt, -dt, 0.0, dt], "observation.state": [0.0]})
        np.testing.assert_array_equal(item["action"], [kit.action_of(i) for i in (6, 6, 6, 7)])
        assert item["action_is_pad"].tolist() == [True, True, False, False]
        np.testing.assert_array_equal(item["observation.state"], [kit.state_of(6)])
        assert item["observation.state_is_pad"].tolist() == [False]
        assert item["index"] == 6 and item["task"] == kit.task_of(1)

        item = reader.window(5, {"action": [0.0, dt, 2 * dt]})
        np.testing.assert_array_equal(item["action"], [kit.action_of(5)] * 3)
        assert item["action_is_pad"].tolist() == [False, True, True]

        item = reader.window(8, {"action": [-dt, 0.0, dt]})
        np.testing.assert_array_equal(item["action"], [kit.action_of(i) for i in (7, 8, 9)])
        assert not item["action_is_pad"].any()


def test_video_windows_return_the_right_frames(kit, two_episodes) -> None:
    dt = 1 / kit.FPS
    sources = {i: kit.camera_frame(i, 0) for i in range(11)}
    with DatasetReader(two_episodes.root) as reader:
        item = reader.window(6, {CAMERA: [-dt, 0.0, dt, 2 * dt]})
        assert item[CAMERA].shape == (4, kit.HEIGHT, kit.WIDTH, 3)
        assert [kit.best_match(image, sources)[0] for image in item[CAMERA]] == [6, 6, 7, 8]
        assert item[f"{CAMERA}_is_pad"].tolist() == [True, False, False, False]
        item = reader.window(10, {CAMERA: [-3 * dt, 0.0, dt]})
        assert [kit.best_match(image, sources)[0] for image in item[CAMERA]] == [7, 10, 10]
        assert item[f"{CAMERA}_is_pad"].tolist() == [False, False, True]
        # A frame that is not windowed is still decoded once.
        assert kit.best_match(reader.window(3, {"action": [0.0]})[CAMERA], sources)[0] == 3


def test_windows_reject_offsets_off_the_frame_grid(kit, two_episodes) -> None:
    with DatasetReader(two_episodes.root) as reader:
        with pytest.raises(ValueError, match="multiples of 1/30"):
            reader.window(3, {"action": [0.0, 0.01]})
        with pytest.raises(ValueError, match="not a feature"):
            reader.window(3, {"actions": [0.0]})


def test_torch_dataset_items_look_like_lerobots(kit, two_episodes) -> None:
    torch = pytest.importorskip("torch")
    from lerobot_dataset.torch_dataset import LeRobotTorchDataset

    dt = 1 / kit.FPS
    dataset = LeRobotTorchDataset(
        two_episodes.root, delta_timestamps={"action": [0.0, dt], CAMERA: [-dt, 0.0]}
    )
    assert len(dataset) == 11
    item = dataset[6]
    assert item[CAMERA].shape == (2, 3, kit.HEIGHT, kit.WIDTH) and item[CAMERA].dtype == torch.float32
    assert float(item[CAMERA].min()) >= 0.0 and float(item[CAMERA].max()) <= 1.0
    assert item[f"{CAMERA}_is_pad"].tolist() == [True, False]
    torch.testing.assert_close(
        item["action"], torch.from_numpy(np.stack([kit.action_of(6), kit.action_of(7)]))
    )
    assert item["action_is_pad"].dtype == torch.bool
    assert item["observation.state"].shape == (6,)
    assert item["index"].shape == () and int(item["index"]) == 6
    assert item["task"] == kit.task_of(1)
    expected = kit.camera_frame(6, 0).transpose(2, 0, 1) / 255
    assert float((item[CAMERA][1] - torch.from_numpy(expected).float()).abs().mean()) < 8 / 255

    only_second = LeRobotTorchDataset(two_episodes.root, episodes=[1])
    assert len(only_second) == 5 and int(only_second[0]["index"]) == 6
    assert only_second[0][CAMERA].shape == (3, kit.HEIGHT, kit.WIDTH)


def test_torch_dataset_works_in_dataloader_workers(kit, two_episodes) -> None:
    torch = pytest.importorskip("torch")
    from lerobot_dataset.torch_dataset import LeRobotTorchDataset

    dataset = LeRobotTorchDataset(two_episodes.root, delta_timestamps={"action": [0.0, 1 / kit.FPS]})
    dataset[0]  # opens decoders in this process; workers must open their own
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, num_workers=2, shuffle=False)
    batches = list(loader)
    indices = torch.cat([b["index"] for b in batches]).tolist()
    assert indices == list(range(11))
    assert batches[0][CAMERA].shape == (4, 3, kit.HEIGHT, kit.WIDTH)
    assert batches[0]["action"].shape == (4, 2, 6)
