"""Training augmentation touches colour cameras only: a depth map keeps its recorded millimetres."""

import numpy as np
import torch

from lerobot_dataset import DatasetWriter
from lerobot_dataset.torch_dataset import LeRobotTorchDataset
from lerobot_training.augmentation import ImageAugmentation
from lerobot_training.data import SeededAugmentedDataset
from lerobot_training.train_config import ImageTransformsConfig

HEIGHT, WIDTH = 24, 32


def test_colour_is_jittered_and_depth_is_left_in_millimetres(tmp_path):
    features = {
        "observation.state": {"dtype": "float32", "shape": [2], "names": ["a", "b"]},
        "action": {"dtype": "float32", "shape": [2], "names": ["a", "b"]},
        "observation.images.front": {"dtype": "video", "shape": [HEIGHT, WIDTH, 3]},
        "observation.images.depth": {"dtype": "video", "shape": [HEIGHT, WIDTH, 1]},
    }
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    with DatasetWriter.create(tmp_path / "ds", fps=10, features=features, robot_type="so101") as writer:
        for k in range(3):
            writer.add_frame(
                {
                    "observation.state": np.zeros(2, np.float32),
                    "action": np.zeros(2, np.float32),
                    "observation.images.front": np.full((HEIGHT, WIDTH, 3), 60 + 20 * k, np.uint8),
                    "observation.images.depth": (400 + 90 * xx + 7 * yy + k).astype(np.uint16),
                },
                task="look",
            )
        writer.save_episode()
    dataset = LeRobotTorchDataset(tmp_path / "ds")
    brighter = ImageTransformsConfig(
        enable=True, max_num_transforms=5, brightness=(1.5, 1.5), contrast=(1.0, 1.0), saturation=(1.0, 1.0),
        hue=(0.0, 0.0), sharpness=(1.0, 1.0),
    )  # fmt: skip
    augmented = SeededAugmentedDataset(dataset, ImageAugmentation(brighter))
    for position in range(len(dataset)):
        plain, item = dataset[position], augmented[(position, 7)]
        assert torch.equal(item["observation.images.depth"], plain["observation.images.depth"])
        assert float(item["observation.images.depth"].max()) > 3000  # millimetres, not clamped to [0, 1]
        assert not torch.equal(item["observation.images.front"], plain["observation.images.front"])
    dataset.reader.close()
