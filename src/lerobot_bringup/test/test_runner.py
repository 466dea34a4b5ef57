"""`lerobot-ros-bringup robot:=sim` in its own process: joint states and camera images arrive over DDS, SIGINT
stops it cleanly. The graph runs in a namespace of its own (a global `__ns` remap), so nothing else on the
domain is counted."""

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image, JointState

from lerobot_bringup.ros.run import main

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[3]
RUNNER = ROOT / "install" / "lerobot_bringup" / "lib" / "lerobot_bringup" / "lerobot-ros-bringup"
WIDTH, HEIGHT = 64, 48


def test_sim_graph_runs_and_stops_on_sigint(ros_context, spin_until, tmp_path):
    assert RUNNER.is_file(), f"{RUNNER} missing: colcon build the workspace"
    namespace = f"/bringup_test_{uuid.uuid4().hex[:8]}"
    command = [
        sys.executable,
        str(RUNNER),
        "robot:=sim",
        f"sim.image_width:={WIDTH}",
        f"sim.image_height:={HEIGHT}",
        "sim.camera_rate:=10",
        "--ros-args",
        "-r",
        f"__ns:={namespace}",
    ]
    log = tmp_path / "bringup.log"
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=os.environ.copy())
    node = Node("bringup_listener", context=ros_context)
    joint_states: list[JointState] = []
    images: dict[str, list[Image]] = {"front": [], "wrist": []}
    node.create_subscription(JointState, f"{namespace}/joint_states", joint_states.append, 10)
    for camera, received in images.items():
        node.create_subscription(
            Image, f"{namespace}/{camera}/image_raw", received.append, qos_profile_sensor_data
        )
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    try:
        arrived = spin_until(executor, lambda: len(joint_states) > 5 and all(images.values()), timeout=90.0)
        assert arrived, f"no joint states or images from the runner:\n{log.read_text()}"
        assert "shoulder_pan" in joint_states[-1].name
        assert (images["front"][-1].width, images["front"][-1].height) == (WIDTH, HEIGHT)
        process.send_signal(signal.SIGINT)
        # A clean exit (status 0, nodes stopped) in bounded time; generous for a loaded CI machine.
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        executor.shutdown()
        node.destroy_node()
    text = log.read_text()
    assert "robot_state_publisher" in text  # says what it cannot run, and how to get it
    assert "Traceback" not in text, text


def test_bad_arguments_exit_with_a_clear_message(capsys):
    assert main(["lerobot-ros-bringup", "robot:=ur5"]) == 2
    assert "choose one of sim, so101, koch" in capsys.readouterr().err
