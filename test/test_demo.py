"""`make demo` end to end, small: record → dataset → ACT training → the policy node drives the sim."""

import json
import re
import subprocess
from pathlib import Path

import pytest

from lerobot_dataset import DatasetReader
from lerobot_dataset.video import probe_video
from lerobot_training.checkpoint import load_pretrained

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, str]:
    """A small `make demo` run: (its output folder, what it printed)."""
    output = tmp_path_factory.mktemp("demo") / "demo"
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo.sh"), "--episodes", "4", "--steps", "150",
         "--eval-episodes", "2", "--episode-timeout", "8", "--output", str(output)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return output, result.stdout


def test_demo_records_trains_and_evaluates_a_policy_on_the_sim(demo):
    output, printed = demo
    assert "valid LeRobot v3.0" in printed, printed
    assert re.search(r"success \d/2 = \d+ % \(95 % CI \d+–\d+ %\)", printed), printed

    with DatasetReader(output / "dataset") as reader:
        assert reader.num_episodes >= 1  # failed demonstrations are discarded at the recorder
        frame = reader.frame(reader.num_frames - 1)
        assert frame["observation.images.front"].shape == (96, 128, 3)
        assert frame["observation.environment_state"].shape == (7,)
        assert frame["task"].startswith("Pick up the cube")
    assert len(list((output / "bags").glob("episode_*"))) == reader.num_episodes

    policy, _, _ = load_pretrained(output / "train" / "checkpoints" / "last" / "pretrained_model")
    assert policy.config.type == "act"
    assert (output / "training_curve.png").read_bytes().startswith(b"\x89PNG")

    results = json.loads((output / "eval.json").read_text())
    assert results["episodes"] == 2 and len(results["outcomes"]) == 2
    assert 0 <= results["wilson_95"][0] <= results["success_rate"] <= results["wilson_95"][1] <= 1
    # Closed loop: the arm starts at home, and the policy brings the gripper toward the cube it was shown.
    approach = [o["min_distance"] / o["start_distance"] for o in results["outcomes"]]
    assert min(approach) < 0.75, results
    video = probe_video(output / "rollout.mp4")  # the first episode, front and wrist side by side
    assert video.frames > 30 and (video.width, video.height) == (640, 240)


def test_the_vision_preset_trains_on_the_demo_recording(demo, tmp_path):
    """`make demo VISION=1`'s training config fits what the demo records: both 128×96 cameras, trained at
    64×48, and the joint states; no cube positions."""
    from lerobot_training.train_cli import main

    dataset = demo[0] / "dataset"
    output = tmp_path / "train"
    config = ROOT / "config" / "training" / "act_sim_vision.yaml"
    args = [f"--config={config}", f"--dataset.root={dataset}", f"--output_dir={output}", "--steps=2"]
    assert main([*args, "--batch_size=4", "--num_workers=0", "--policy.device=cpu"]) == 0
    policy, _, _ = load_pretrained(output / "checkpoints" / "last" / "pretrained_model")
    assert {key: feature.shape for key, feature in policy.config.input_features.items()} == {
        "observation.state": (6,),
        "observation.images.front": (3, 48, 64),
        "observation.images.wrist": (3, 48, 64),
    }
