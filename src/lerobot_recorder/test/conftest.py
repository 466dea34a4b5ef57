import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
MAPPING = textwrap.dedent(
    f"""
    name: fake_robot
    robot_type: so101
    fps: 30
    task: Pick up the cube.
    features:
      observation.state: {{topic: /joint_states, type: sensor_msgs/msg/JointState, joints: {JOINTS}}}
      action: {{topic: /arm/commands, type: std_msgs/msg/Float64MultiArray, joints: {JOINTS}}}
      observation.images.front: {{topic: /front/image_raw, type: sensor_msgs/msg/Image}}
      observation.images.wrist: {{topic: /wrist/image_raw, type: sensor_msgs/msg/Image}}
    record_also: [/recorder/status]
    """
)


@pytest.fixture
def mapping_file(tmp_path: Path) -> Path:
    path = tmp_path / "fake_robot.yaml"
    path.write_text(MAPPING)
    return path


@pytest.fixture
def fake_robot():
    """Starts fake_robot.py (320×240 cameras) in its own process; yields the process."""
    process = subprocess.Popen([sys.executable, str(Path(__file__).with_name("fake_robot.py")), "320", "240"])
    yield process
    process.kill()
    process.wait()
