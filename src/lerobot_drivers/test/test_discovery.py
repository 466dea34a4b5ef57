"""Discovery: motors found on an emulated bus at the right protocol and rate only; V4L2 listing."""

import pytest

from lerobot_common.robot_description import load_robot_description
from lerobot_drivers.discover_cli import main as discover
from lerobot_drivers.discovery import MotorScan, list_video_devices, scan_motors
from lerobot_drivers.emulator import emulate_arm

pytestmark = pytest.mark.timeout(60)


def test_scan_finds_the_motors_at_their_protocol_and_rate_only(capsys):
    koch = load_robot_description("koch_follower")
    with emulate_arm(koch, baudrate=57_600) as emulator:  # answers only a host at 57600 baud
        found = scan_motors(emulator.port, protocols=("feetech", "dynamixel"))
        models = {1: "xl430-w250", 2: "xl430-w250", 3: "xl330-m288", 4: "xl330-m288", 5: "xl330-m288"}
        assert found == [MotorScan("dynamixel", 57_600, {**models, 6: "xl330-m288"})]
        assert discover(["--scan-motors", emulator.port]) == 0
    assert "dynamixel at 57600 baud: 1: xl430-w250, 2: xl430-w250, 3: xl330-m288" in capsys.readouterr().out


def test_video_devices_skip_metadata_nodes(tmp_path):
    for name, index, label in (
        ("video0", 0, "USB Camera"),
        ("video1", 1, "USB Camera"),
        ("video2", 0, "Arm cam"),
    ):
        (tmp_path / name).mkdir()
        (tmp_path / name / "index").write_text(f"{index}\n")
        (tmp_path / name / "name").write_text(f"{label}\n")
    devices = list_video_devices(tmp_path)
    assert [(d.path, d.name) for d in devices] == [("/dev/video0", "USB Camera"), ("/dev/video2", "Arm cam")]
