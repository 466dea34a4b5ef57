"""Read-write loop rate of the servo bus against the emulator, for both protocols (figures only, no asserts).

Each cycle is what the arm node does at every tick: one sync read of positions and velocities of six motors,
then one sync write of six goal positions, through the real vendor SDKs (`Arm.read` + `Arm.command`, so the
tick ↔ radian conversion is included). The emulated arm runs in a process of its own, as real servos would
not share the driver's interpreter. Two emulator settings:
- "pty": replies as fast as the pseudo-terminal carries them (the software's own ceiling);
- "1 Mbaud wire": each reply is delayed by the time its request and reply take on a 1 Mbaud line.

Then the CPU the driver spends in a loop paced at the arm node's 100 Hz, with replies as late as a USB serial
adapter delivers them (2 ms), for the SDKs' own zero-timeout reads (spinning until a reply is complete: the
baseline) and for the suite's reads that wait in select.

    python benchmarks/bus.py [--seconds 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from lerobot_common.calibration import MotorCalibration
from lerobot_common.robot_description import RobotDescription, load_robot_description
from lerobot_drivers.arm import Arm, ArmConfig
from lerobot_drivers.emulator import emulate_arm

ROBOTS = {"feetech": "so101_follower", "dynamixel": "koch_follower"}
WIRE_SETTINGS = {"pty": None, "1 Mbaud wire": 1_000_000}


def calibration_of(description: RobotDescription) -> dict[str, MotorCalibration]:
    return {j.name: MotorCalibration(j.id, 0, 0, 1000, 3000) for j in description.joints}


USB_ADAPTER_DELAY_S = 0.002  # a USB serial adapter with its latency timer at 1-2 ms
PACED_RATE_HZ = 100.0  # the arm node's default control rate


def serve(
    robot: str, link_dir: str, wire_baudrate: int | None, reply_delay_s: float, stop: multiprocessing.Event
) -> None:
    description = load_robot_description(robot)
    emulator = emulate_arm(
        description,
        calibration=calibration_of(description),
        link_dir=Path(link_dir),
        wire_baudrate=wire_baudrate,
    )
    emulator.reply_delay_s = reply_delay_s
    with emulator:
        stop.wait()


def measure(
    robot: str,
    wire_baudrate: int | None,
    seconds: float,
    *,
    reply_delay_s: float = 0.0,
    rate_hz: float | None = None,
    sdk_spin: bool = False,
) -> tuple[list[float], float]:
    """Durations (s) of every read-write cycle run during `seconds` (paced at `rate_hz` if given), and the
    driver's CPU time per second. `sdk_spin`: read as the SDKs do by themselves (zero timeout)."""
    description = load_robot_description(robot)
    with tempfile.TemporaryDirectory(prefix="bench-bus-") as link_dir:
        stop = multiprocessing.Event()
        server = multiprocessing.Process(
            target=serve, args=(robot, link_dir, wire_baudrate, reply_delay_s, stop), daemon=True
        )
        server.start()
        port = Path(link_dir) / f"tty{description.protocol.upper()}"
        deadline = time.monotonic() + 10
        while not port.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        arm = Arm(
            ArmConfig(description, str(port), robot_id="bench"), calibration=calibration_of(description)
        )
        arm.connect()
        if sdk_spin:
            arm.bus._port_handler.ser.timeout = 0
        goals = dict.fromkeys(arm.joint_names, 0.1)
        durations = []
        cpu_start, end = time.process_time(), time.monotonic() + seconds
        while (now := time.monotonic()) < end:
            start = time.perf_counter()
            arm.read()
            arm.command(goals)
            durations.append(time.perf_counter() - start)
            if rate_hz:
                time.sleep(max(0.0, now + 1 / rate_hz - time.monotonic()))
        cpu_per_s = (time.process_time() - cpu_start) / seconds
        arm.close("torque_off")
        stop.set()
        server.join(timeout=5)
    return durations, cpu_per_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="duration of each measurement")
    args = parser.parse_args()
    print(f"{'protocol':<10} {'emulator':<14} {'cycles':>7} {'rate Hz':>9} {'mean ms':>8} {'p99 ms':>7}")
    for protocol, robot in ROBOTS.items():
        for setting, wire_baudrate in WIRE_SETTINGS.items():
            durations = sorted(measure(robot, wire_baudrate, args.seconds)[0])
            rate = len(durations) / sum(durations)
            p99 = durations[min(len(durations) - 1, int(0.99 * len(durations)))]
            mean = statistics.fmean(durations)
            row = f"{protocol:<10} {setting:<14} {len(durations):>7} {rate:>9.0f}"
            print(f"{row} {mean * 1e3:>8.2f} {p99 * 1e3:>7.2f}")
    print(
        "one cycle = sync read of Present_Position+Present_Velocity (6 motors) + sync write of Goal_Position"
    )
    late_ms = USB_ADAPTER_DELAY_S * 1e3
    print(f"\ndriver CPU at {PACED_RATE_HZ:.0f} Hz, replies {late_ms:.0f} ms late (a USB adapter)")
    print(f"{'protocol':<10} {'SDK spin cpu %':>15} {'select cpu %':>13} {'ratio':>6}")
    for protocol, robot in ROBOTS.items():
        spin, wait = (
            measure(
                robot,
                None,
                args.seconds,
                reply_delay_s=USB_ADAPTER_DELAY_S,
                rate_hz=PACED_RATE_HZ,
                sdk_spin=s,
            )[1]
            for s in (True, False)
        )
        print(f"{protocol:<10} {spin * 100:>15.0f} {wait * 100:>13.0f} {spin / wait:>5.1f}×")


if __name__ == "__main__":
    main()
