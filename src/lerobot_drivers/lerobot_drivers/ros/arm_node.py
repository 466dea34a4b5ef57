"""`ros2 run lerobot_drivers arm`: a Feetech or Dynamixel arm as ROS topics (a thin shell over `arm.ArmLoop`).

Publishes `joint_states` (radians, stamped when the bus read was issued) at `rate_hz`; takes position commands
on `arm/commands` (Float64MultiArray in joint order, like forward_command_controller) and
`arm/joint_commands` (JointState by name, like topic_based_ros2_control, so a ros2_control stack can use this
node as its hardware); a command with a NaN or infinite value is refused whole (a throttled warning, and
`rejected_commands` in the diagnostics); service `~/set_torque` (std_srvs/SetBool); `/diagnostics` once per
`diagnostics_period_s`. A leader arm (torque off) publishes its joints as the teleoperation action source:
remap the follower's `arm/joint_commands` to the leader's `joint_states`. After a USB unplug it keeps running
and reconnects; on shutdown it leaves the arm as `on_shutdown` says (hold or torque_off).

QoS: joint states and diagnostics are reliable (robot_state_publisher, recorders and diagnostic aggregators
subscribe reliably); commands are received best effort with depth 1, which matches reliable and best-effort
publishers alike and never queues a stale setpoint behind a fresh one.
"""

from __future__ import annotations

import sys
import threading

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, Header
from std_srvs.srv import SetBool

from lerobot_common.conversions import joint_positions_by_name, joint_positions_in_order
from lerobot_common.robot_description import load_robot_description
from lerobot_common.ros.parameters import declare_parameters
from lerobot_common.ros.qos import COMMAND_QOS, STATE_QOS
from lerobot_common.ros.run import run_node
from lerobot_drivers.arm import SHUTDOWN_MODES, Arm, ArmConfig, ArmLoop
from lerobot_drivers.commands import RejectedCommandError, check_finite
from lerobot_drivers.motors.errors import MotorBusError
from lerobot_drivers.ros.conversions import joint_state_msg, stamp_from_ns

PARAMETERS = {
    "robot": ("so101_follower", "robot description: a name in config/robots/ or a YAML path"),
    "port": ("/dev/ttyACM0", "serial port of the servo bus (see lerobot-ros-discover)"),
    "id": ("", "lerobot robot id the arm was calibrated under (names the calibration JSON)"),
    "calibration_file": ("", "explicit calibration JSON; default: lerobot's place for (robot type, id)"),
    "baudrate": (0, "bus baud rate; 0: the robot description's"),
    "mode": (
        "",
        "follower (takes commands, torque on) or leader (torque off); empty: the description's role",
    ),
    "rate_hz": (100.0, "joint_states rate and control cycle, Hz"),
    "on_shutdown": ("hold", f"state the arm is left in on shutdown: one of {list(SHUTDOWN_MODES)}"),
    "reconnect_period_s": (1.0, "seconds between reconnection attempts after the port is lost"),
    "diagnostics_period_s": (1.0, "seconds between /diagnostics messages"),
}


class ArmNode(Node):
    def __init__(self, **node_options):
        super().__init__("arm", **node_options)
        p = declare_parameters(self, PARAMETERS)
        if p["on_shutdown"] not in SHUTDOWN_MODES:
            raise ValueError(f"on_shutdown must be one of {SHUTDOWN_MODES}, got {p['on_shutdown']!r}")
        if p["mode"] not in ("", "follower", "leader"):
            raise ValueError(f"mode must be follower or leader, got {p['mode']!r}")
        if not p["id"] and not p["calibration_file"]:
            raise ValueError("set the id the arm was calibrated under: --ros-args -p id:=my_arm")
        if p["rate_hz"] <= 0:
            raise ValueError(f"rate_hz must be positive, got {p['rate_hz']}")
        self.on_shutdown = p["on_shutdown"]
        description = load_robot_description(p["robot"])
        self.arm = Arm(
            ArmConfig(
                description=description,
                port=p["port"],
                robot_id=p["id"],
                baudrate=p["baudrate"] or None,
                calibration_file=p["calibration_file"] or None,
                leader=None if not p["mode"] else p["mode"] == "leader",
            )
        )
        self.arm.connect()
        self.loop = ArmLoop(self.arm, reconnect_period_s=p["reconnect_period_s"])
        self._pending: dict[str, float] = {}
        self._pending_lock = threading.Lock()
        self._last_message = ""
        self._cycles_at_last_diagnostics = 0
        self._rejected = 0  # commands refused since start-up
        self._rejected_at_last_diagnostics = 0
        self._last_rejection = ""

        self._joint_pub = self.create_publisher(JointState, "joint_states", STATE_QOS)
        self._diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", STATE_QOS)
        self.create_subscription(Float64MultiArray, "arm/commands", self._on_commands, COMMAND_QOS)
        self.create_subscription(JointState, "arm/joint_commands", self._on_joint_commands, COMMAND_QOS)
        self.create_service(SetBool, "~/set_torque", self._on_set_torque)
        self.create_timer(1.0 / p["rate_hz"], self._on_cycle)
        self._diagnostics_period = p["diagnostics_period_s"]
        self.create_timer(self._diagnostics_period, self._on_diagnostics)
        role = "leader (torque off)" if self.arm.is_leader else "follower"
        self.get_logger().info(
            f"{description.name} on {p['port']} as {role}, calibration "
            f"{self.arm.config.resolved_calibration_file}: joints {self.arm.joint_names}"
        )

    # ------------------------------------------------------------------------------------------- callbacks
    def _on_commands(self, msg: Float64MultiArray) -> None:
        try:
            command = joint_positions_in_order(msg, self.arm.joint_names)
        except ValueError as err:
            self.get_logger().error(f"arm/commands ignored: {err}", throttle_duration_sec=5.0)
            return
        self._queue(command, "arm/commands")

    def _on_joint_commands(self, msg: JointState) -> None:
        try:
            command = joint_positions_by_name(msg)
        except ValueError as err:
            self.get_logger().error(f"arm/joint_commands ignored: {err}", throttle_duration_sec=5.0)
            return
        unknown = sorted(set(command) - set(self.arm.joint_names))
        if unknown:
            self.get_logger().warning(
                f"arm/joint_commands: no joints named {unknown}", throttle_duration_sec=5.0
            )
        self._queue(
            {name: value for name, value in command.items() if name in self.arm.units}, "arm/joint_commands"
        )

    def _queue(self, command: dict[str, float], topic: str) -> None:
        if self.arm.is_leader:
            self.get_logger().warning("a leader arm ignores commands", throttle_duration_sec=10.0)
            return
        try:
            check_finite(command)
        except RejectedCommandError as err:
            self._rejected += 1
            self._last_rejection = f"{topic}: {err}"
            self.get_logger().warning(self._last_rejection, throttle_duration_sec=5.0)
            return
        with self._pending_lock:  # partial commands between two cycles all apply; later values win
            self._pending.update(command)

    def _on_cycle(self) -> None:
        with self._pending_lock:
            command, self._pending = self._pending, {}
        sample = self.loop.step(command or None)
        if sample is not None:
            self._joint_pub.publish(
                joint_state_msg(
                    self.arm.joint_names,
                    sample.positions,
                    sample.velocities,
                    stamp=stamp_from_ns(sample.stamp_ns),
                )
            )
        self._log_status_changes()

    def _on_set_torque(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        try:
            self.arm.set_torque(request.data)
        except MotorBusError as err:
            response.success, response.message = False, str(err)
            return response
        response.success, response.message = True, f"torque {'on' if request.data else 'off'}"
        return response

    def _on_diagnostics(self) -> None:
        status = self.loop.status
        health = self.loop.health()
        cycles = status.cycles - self._cycles_at_last_diagnostics
        self._cycles_at_last_diagnostics = status.cycles
        rejected = self._rejected - self._rejected_at_last_diagnostics
        self._rejected_at_last_diagnostics = self._rejected
        message = status.message
        if not status.connected:
            level = DiagnosticStatus.ERROR
        elif rejected:
            level = DiagnosticStatus.WARN
            message = f"commands refused since the last report: {rejected}; last: {self._last_rejection}"
        elif status.failing_motors or any(h.errors for h in health.values()):
            level = DiagnosticStatus.WARN
        else:
            level = DiagnosticStatus.OK
        values = {
            "port": self.arm.bus.port,
            "mode": "leader" if self.arm.is_leader else "follower",
            "torque": str(self.arm.torque_wanted),
            "rate_hz": f"{cycles / self._diagnostics_period:.1f}",
            "failed_cycles": str(status.failed_cycles),
            "disconnects": str(status.disconnects),
            "reconnects": str(status.reconnects),
            "rejected_commands": str(self._rejected),
        }
        for motor, h in health.items():
            values[f"{motor} voltage_v"] = f"{h.voltage_v:.1f}"
            values[f"{motor} temperature_c"] = f"{h.temperature_c:.0f}"
            if h.errors:
                values[f"{motor} errors"] = ", ".join(h.errors)
        self._diagnostics_pub.publish(
            DiagnosticArray(
                header=Header(stamp=self.get_clock().now().to_msg()),
                status=[
                    DiagnosticStatus(
                        level=level,
                        name=f"{self.get_fully_qualified_name()}: {self.arm.description.name}",
                        message=message,
                        hardware_id=self.arm.bus.port,
                        values=[KeyValue(key=k, value=v) for k, v in values.items()],
                    )
                ],
            )
        )

    # ------------------------------------------------------------------------------------------- helpers
    def _log_status_changes(self) -> None:
        message = self.loop.status.message
        if message == self._last_message or message == "ok":
            self._last_message = message
            return
        self._last_message = message
        if message == "reconnected":
            self.get_logger().info(f"reconnected to {self.arm.bus.port}")
        else:
            self.get_logger().warning(message, throttle_duration_sec=5.0)

    def close(self) -> None:
        """Leave the arm in the configured safe state and release the port."""
        try:
            self.arm.close(self.on_shutdown)
        except MotorBusError as err:
            self.get_logger().error(f"could not leave the arm in '{self.on_shutdown}' state: {err}")


def main(args: list[str] | None = None) -> int:
    errors = (MotorBusError, FileNotFoundError, ValueError)
    return run_node(
        "lerobot_drivers arm",
        ArmNode,
        errors,
        args,
        close=ArmNode.close,
        description=__doc__.split("\n\n")[0],
        parameters=PARAMETERS,
    )


if __name__ == "__main__":
    sys.exit(main())
