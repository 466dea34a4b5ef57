"""`lerobot-ros-discover`: list serial ports and cameras; with --scan-motors, find the motors on a port."""

from __future__ import annotations

import argparse
import sys

from lerobot_drivers.discovery import (
    DEFAULT_SCAN_BAUDRATES,
    list_realsense_devices,
    list_serial_ports,
    list_video_devices,
    scan_motors,
)
from lerobot_drivers.motors.errors import MotorBusError
from lerobot_drivers.motors.tables import DYNAMIXEL_BAUD_INDEX, FEETECH_BAUD_INDEX

ALL_BAUDRATES = tuple(sorted(set(FEETECH_BAUD_INDEX) | set(DYNAMIXEL_BAUD_INDEX), reverse=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lerobot-ros-discover", description=__doc__.split("\n")[0])
    parser.add_argument("--scan-motors", metavar="PORT", help="broadcast-ping PORT with both servo protocols")
    parser.add_argument("--all-baudrates", action="store_true", help="scan every rate, not just 1M and 57600")
    args, _ = parser.parse_known_args(argv)  # known args only: `ros2 run` appends --ros-args

    if args.scan_motors:
        baudrates = ALL_BAUDRATES if args.all_baudrates else DEFAULT_SCAN_BAUDRATES
        print(f"Motors on {args.scan_motors} (baud rates {', '.join(map(str, baudrates))}):")
        try:
            scans = scan_motors(args.scan_motors, baudrates=baudrates)
        except MotorBusError as err:
            print(f"  {err}", file=sys.stderr)
            return 1
        for scan in scans:
            listing = ", ".join(f"{i}: {model}" for i, model in scan.motors.items())
            print(f"  {scan.protocol} at {scan.baudrate} baud: {listing}")
        if not scans:
            print("  none answered: check the motor power supply (or try --all-baudrates)")
        return 0

    print("Serial ports:")
    ports = list_serial_ports()
    for port in ports:
        hint = f"  <- {port.hint}" if port.hint else ""
        print(f"  {port.device}  {port.description}  serial={port.serial_number or '-'}{hint}")
    if not ports:
        print("  none (is the servo board plugged in?)")

    print("Cameras (V4L2, use with `camera --ros-args -p device:=<path>`):")
    videos = list_video_devices()
    for video in videos:
        print(f"  {video.path}  {video.name}")
    if not videos:
        print("  none")

    realsense = list_realsense_devices()
    print("RealSense cameras (use with `-p backend:=realsense -p serial_no:=<serial>`):")
    if realsense is None:
        print("  pyrealsense2 is not installed (pip install pyrealsense2) — cannot list them")
    for device in realsense or []:
        print(f"  {device['name']}  serial={device['serial_no']}  firmware={device['firmware']}")
    if realsense == []:
        print("  none")
    return 0


if __name__ == "__main__":
    sys.exit(main())
