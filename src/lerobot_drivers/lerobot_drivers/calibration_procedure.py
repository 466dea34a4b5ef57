"""Calibrating a new arm the way lerobot does, so the resulting JSON is interchangeable with lerobot's.

1. Torque off, factory homing (offset 0, full position limits).
2. The user puts every joint in the middle of its range: each motor's homing offset is set so that this pose
   reads half a turn (2047).
3. The user moves every joint through its whole range while the extremes are recorded; joints that turn
   freely (`full_turn`) get the whole encoder range.
4. Offsets and ranges go into the motors and into the returned calibration (drive mode 0, as lerobot).

The user interaction is passed in as callbacks, so the command line and the tests drive the same code.
"""

from __future__ import annotations

from collections.abc import Callable

from lerobot_common.calibration import MotorCalibration
from lerobot_common.robot_description import RobotDescription
from lerobot_drivers.motors.bus import MotorBus
from lerobot_drivers.motors.tables import MODELS

# Called with (present positions, minimums, maximums) after each read; returns True to end the recording.
RangeUpdate = Callable[[dict[str, int], dict[str, int], dict[str, int]], bool]


def calibrate_arm(
    bus: MotorBus,
    description: RobotDescription,
    *,
    wait_for_middle_pose: Callable[[], None],
    on_range_update: RangeUpdate,
) -> dict[str, MotorCalibration]:
    """Run the procedure on a connected bus; returns the calibration it stored in the motors."""
    # A person is moving the arm: a slow reply is waited for (every retry), not a failed calibration.
    with bus.patience():
        names = description.joint_names
        bus.set_torque(False)
        for joint in description.joints:
            bus.write("Homing_Offset", joint.name, 0)
            bus.write("Min_Position_Limit", joint.name, 0)
            bus.write("Max_Position_Limit", joint.name, MODELS[joint.model].resolution - 1)

        wait_for_middle_pose()
        raw = bus.sync_read("Present_Position")
        offsets = {name: bus.half_turn_homing_offset(raw[name]["Present_Position"]) for name in names}
        for name, offset in offsets.items():
            bus.write("Homing_Offset", name, offset)

        recorded = [joint.name for joint in description.joints if not joint.full_turn]
        first = bus.sync_read("Present_Position", recorded)
        present = {name: v["Present_Position"] for name, v in first.items()}
        minimums, maximums = dict(present), dict(present)
        while recorded:
            present = {
                name: v["Present_Position"] for name, v in bus.sync_read("Present_Position", recorded).items()
            }
            for name, value in present.items():
                minimums[name] = min(minimums[name], value)
                maximums[name] = max(maximums[name], value)
            if on_range_update(present, minimums, maximums):
                break
        still = [name for name in recorded if minimums[name] == maximums[name]]
        if still:
            raise ValueError(
                f"joints {still} did not move while recording: move every joint through its whole range"
            )

        calibration = {}
        for joint in description.joints:
            full = (0, MODELS[joint.model].resolution - 1)
            low, high = full if joint.full_turn else (minimums[joint.name], maximums[joint.name])
            calibration[joint.name] = MotorCalibration(
                id=joint.id, drive_mode=0, homing_offset=offsets[joint.name], range_min=low, range_max=high
            )
        bus.write_calibration(calibration)
        return calibration
