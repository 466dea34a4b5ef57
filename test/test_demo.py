"""`make demo`'s script, small: sim + expert + recorder over DDS → bags → a valid dataset."""

import subprocess
from pathlib import Path

from lerobot_dataset import DatasetReader

ROOT = Path(__file__).resolve().parents[1]


def test_demo_records_demonstrations_into_a_valid_dataset(tmp_path):
    output = tmp_path / "demo"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--episodes", "2", "--width", "128", "--height", "96",
         "--output", str(output)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "valid LeRobot v3.0" in result.stdout
    reader = DatasetReader(output / "dataset")
    try:
        assert reader.num_episodes >= 1  # failed demonstrations are discarded at the recorder
        frame = reader.frame(reader.num_frames - 1)
        assert frame["observation.images.front"].shape == (96, 128, 3)
        assert frame["observation.state"].shape == (6,) and frame["task"].startswith("Pick up the cube")
    finally:
        reader.close()
    assert len(list((output / "bags").glob("episode_*"))) == reader.num_episodes
