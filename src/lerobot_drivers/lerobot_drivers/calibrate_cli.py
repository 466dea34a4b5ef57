"""`lerobot-ros-calibrate`: calibrate a new arm interactively and write lerobot's calibration JSON.

    lerobot-ros-calibrate --robot so101_follower --id my_arm --port /dev/ttyACM0

The file lands where lerobot looks for it (`$HF_LEROBOT_CALIBRATION/<robots|teleoperators>/<type>/<id>.json`),
so lerobot's own tools and the `arm` node both use it.
"""

from __future__ import annotations

import argparse
import select
import sys
import time
from pathlib import Path

from lerobot_common.calibration import calibration_path, save_calibration
from lerobot_common.robot_description import load_robot_description
from lerobot_drivers.calibration_procedure import calibrate_arm
from lerobot_drivers.motors import BusConfig, Motor, make_bus
from lerobot_drivers.motors.errors import MotorBusError

DISPLAY_PERIOD_S = 0.05


def enter_pressed() -> bool:
    """True once the user pressed Enter (non-blocking; POSIX terminals and pipes)."""
    ready, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(ready) and sys.stdin.readline() is not None


class RangeTable:
    """Prints the live min/position/max table in place, until Enter is pressed."""

    def __init__(self, interactive: bool):
        self._interactive = interactive
        self._lines = 0

    def __call__(self, present: dict[str, int], minimums: dict[str, int], maximums: dict[str, int]) -> bool:
        if self._interactive and self._lines:
            print(f"\033[{self._lines}A", end="")  # back to the top of the previous table
        rows = [f"{'JOINT':<15} {'MIN':>6} {'POS':>6} {'MAX':>6}"]
        rows += [
            f"{name:<15} {minimums[name]:>6} {value:>6} {maximums[name]:>6}"
            for name, value in present.items()
        ]
        if self._interactive or not self._lines:
            print("\n".join(rows), flush=True)
        self._lines = len(rows)
        time.sleep(DISPLAY_PERIOD_S)
        return enter_pressed()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-ros-calibrate", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--robot", required=True, help="robot description, e.g. so101_follower or a YAML path"
    )
    parser.add_argument("--id", required=True, help="name of this arm (lerobot's --robot.id)")
    parser.add_argument("--port", required=True, help="serial port of the arm's servo bus")
    parser.add_argument("--baud", type=int, default=0, help="bus baud rate (default: the description's)")
    parser.add_argument("--calibration-file", type=Path, help="write here instead of lerobot's place")
    parser.add_argument("--yes", action="store_true", help="overwrite an existing calibration without asking")
    args, _ = parser.parse_known_args(argv)  # known args only: `ros2 run` appends --ros-args

    try:
        description = load_robot_description(args.robot)
    except (FileNotFoundError, ValueError) as err:
        print(err, file=sys.stderr)
        return 1
    path = args.calibration_file or calibration_path(
        description.lerobot_type, args.id, category=description.calibration_category
    )
    if path.exists() and not args.yes:
        answer = input(f"{path} exists. Overwrite it with a new calibration? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("kept the existing calibration")
            return 0

    bus = make_bus(
        description.protocol,
        BusConfig(args.port, args.baud or description.baudrate),
        [Motor(joint.name, joint.id, joint.model) for joint in description.joints],
    )
    try:
        bus.connect()
        print(f"Torque is off: {description.name} can be moved by hand.")
        calibration = calibrate_arm(
            bus,
            description,
            wait_for_middle_pose=lambda: input(
                "Move every joint to the middle of its range, then press ENTER... "
            ),
            on_range_update=_announce_recording(RangeTable(interactive=sys.stdout.isatty())),
        )
    except (MotorBusError, ValueError) as err:
        print(f"calibration failed: {err}", file=sys.stderr)
        return 1
    finally:
        bus.disconnect()
    save_calibration(path, calibration)
    print(f"Calibration saved to {path}")
    return 0


def _announce_recording(table: RangeTable):
    announced = False

    def update(present, minimums, maximums) -> bool:
        nonlocal announced
        if not announced:
            print("Recording: move every joint through its whole range, then press ENTER.", flush=True)
            announced = True
        return table(present, minimums, maximums)

    return update


if __name__ == "__main__":
    sys.exit(main())
