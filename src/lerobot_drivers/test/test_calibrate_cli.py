"""`lerobot-ros-calibrate` end to end: a real process, keys on its stdin, an emulated SO-101 moved by hand."""

import os
import subprocess
import sys
import time

import pytest

from lerobot_common.calibration import MotorCalibration, calibration_path, load_calibration
from lerobot_common.robot_description import load_robot_description
from lerobot_drivers.emulator import emulate_arm

pytestmark = pytest.mark.timeout(60)


def read_until(process: subprocess.Popen, marker: str, timeout: float = 20) -> str:
    seen = ""
    deadline = time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline and process.poll() is None:
        seen += process.stdout.readline()
    assert marker in seen, seen
    return seen


def press_enter(process: subprocess.Popen) -> None:
    """Enter on the command's stdin; a command that already ended shows its output (not a BrokenPipeError)."""
    assert process.poll() is None, process.communicate()[0]
    process.stdin.write("\n")
    process.stdin.flush()


def test_calibrate_writes_lerobots_json(calibration_root):
    description = load_robot_description("so101_follower")
    with emulate_arm(description) as emulator:
        middle = {joint.id: 1900 + 50 * joint.id for joint in description.joints}  # raw, no offset yet
        command = [sys.executable, "-m", "lerobot_drivers.calibrate_cli"]
        command += ["--robot", "so101_follower", "--id", "new_arm", "--port", emulator.port]
        process = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=os.environ,
        )
        try:
            read_until(process, "Torque is off")
            for motor_id, raw in middle.items():
                emulator.servo(motor_id).move_by_hand(raw)
            press_enter(process)
            read_until(process, "Recording")
            for target in (900, 3100):  # sweep every joint to both ends (present positions, offset applied)
                for motor_id in middle:
                    emulator.servo(motor_id).move_by_hand(target + motor_id)
                # The recording loop only reads: two more reads and one of them saw this end whole.
                assert emulator.wait_for_requests(2, timeout=20), "the calibration stopped reading the arm"
            press_enter(process)
            output, _ = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 0, output
    path = calibration_path("so101_follower", "new_arm")
    assert f"Calibration saved to {path}" in output
    expected = {
        joint.name: MotorCalibration(joint.id, 0, middle[joint.id] - 2047, 900 + joint.id, 3100 + joint.id)
        for joint in description.joints
    }
    assert load_calibration(path) == expected
    assert emulator.servo(3).get("Homing_Offset") == middle[3] - 2047
