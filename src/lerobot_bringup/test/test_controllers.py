"""ros2_control configuration: one set of joint names across the URDF, the hardware tag, the controllers, the
sim's mapping; the bringup's controller table names controllers that the controller file defines."""

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from lerobot_bringup.graph import load_graph
from lerobot_bringup.kinematics import UrdfModel

CONFIG = Path(__file__).resolve().parents[3] / "config"
CONTROLLERS = yaml.safe_load((CONFIG / "controllers" / "so101_controllers.yaml").read_text())
JOINTS = UrdfModel.from_file(CONFIG / "urdf" / "so101.urdf").actuated_joints
# The command topic each controller type listens on (ros2_controllers' conventions).
TOPICS = {
    "position_controllers/JointGroupPositionController": "commands",
    "forward_command_controller/ForwardCommandController": "commands",
    "joint_trajectory_controller/JointTrajectoryController": "joint_trajectory",
}


def test_joint_names_agree_everywhere():
    mapping = yaml.safe_load((CONFIG / "mappings" / "so101_sim.yaml").read_text())
    assert mapping["features"]["observation.state"]["joints"] == JOINTS
    assert mapping["features"]["action"]["joints"] == JOINTS
    for controller in ("forward_position_controller", "joint_trajectory_controller"):
        assert CONTROLLERS[controller]["ros__parameters"]["joints"] == JOINTS
    tag = ET.fromstring((CONFIG / "urdf" / "so101.ros2_control.xml").read_text())
    assert [j.get("name") for j in tag.findall("joint")] == JOINTS
    for joint in tag.findall("joint"):
        assert [c.get("name") for c in joint.findall("command_interface")] == ["position"]


def test_hardware_is_the_drivers_topics():
    tag = ET.fromstring((CONFIG / "urdf" / "so101.ros2_control.xml").read_text())
    hardware = tag.find("hardware")
    assert hardware.findtext("plugin") == "topic_based_ros2_control/TopicBasedSystem"
    params = {p.get("name"): p.text for p in hardware.findall("param")}
    # The drivers (arm and sim nodes) take JointState commands on arm/joint_commands, publish joint_states.
    assert params == {"joint_commands_topic": "/arm/joint_commands", "joint_states_topic": "/joint_states"}


@pytest.mark.parametrize("controller", ["forward", "trajectory"])
def test_policy_commands_go_to_a_defined_controller(controller):
    specs = load_graph({"robot": "sim", "policy": "/ckpt", "controller": controller})
    policy = next(s for s in specs if s.name == "policy")
    spawner = next(s for s in specs if s.executable == "spawner")
    name = spawner.arguments[0]
    types = CONTROLLERS["controller_manager"]["ros__parameters"]
    assert name in types and name in CONTROLLERS
    assert policy.parameters["command_topic"] == f"/{name}/{TOPICS[types[name]['type']]}"
    description = next(s for s in specs if s.name == "robot_state_publisher").parameters["robot_description"]
    robot = ET.fromstring(description)
    assert robot.tag == "robot" and robot.find("ros2_control") is not None
    assert UrdfModel(description).actuated_joints == JOINTS
