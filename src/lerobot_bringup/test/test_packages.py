"""lerobot_bringup.packages: every node of a graph from config/bringup is looked up in the ament index before
anything starts. The index is a real directory tree (one prefix per package, as colcon installs them:
share/ament_index/resource_index/packages/<name> markers and lib/<name>/<executable>) on AMENT_PREFIX_PATH."""

import os
from pathlib import Path

import pytest

from lerobot_bringup.graph import GraphError, load_graph
from lerobot_bringup.packages import MissingPackagesError, installed_graph

CONFIG = Path(__file__).resolve().parents[3] / "config"
OURS = {
    "lerobot_drivers": ["sim", "arm", "camera", "teleop"],
    "lerobot_policy_node": ["policy"],
    "lerobot_bringup": ["chunk_markers"],
    "lerobot_recorder": ["record"],
}
ROS = {
    "robot_state_publisher": ["robot_state_publisher"],
    "controller_manager": ["ros2_control_node", "spawner"],
    "rviz2": ["rviz2"],
}


@pytest.fixture
def ament_index(tmp_path, monkeypatch):
    """install({package: [executables]}): a prefix per package, all of them (and only they) on
    AMENT_PREFIX_PATH."""

    def install(packages: dict[str, list[str]]) -> None:
        prefixes = []
        for package, executables in packages.items():
            prefix = tmp_path / package
            marker = prefix / "share" / "ament_index" / "resource_index" / "packages" / package
            marker.parent.mkdir(parents=True)
            marker.touch()
            (prefix / "lib" / package).mkdir(parents=True)
            for executable in executables:
                (prefix / "lib" / package / executable).write_text("#!/bin/sh\n")
            prefixes.append(str(prefix))
        monkeypatch.setenv("AMENT_PREFIX_PATH", os.pathsep.join(prefixes))

    return install


def names(specs) -> list[str]:
    return [s.full_name for s in specs]


def test_a_missing_required_package_stops_the_graph_with_its_install_note(ament_index):
    ament_index({**OURS, "robot_state_publisher": ["robot_state_publisher"]})
    specs = load_graph({"controller": "forward"})
    with pytest.raises(MissingPackagesError) as error:
        installed_graph(specs)
    message = str(error.value)
    assert message.startswith("nothing started")
    lines = [line.strip() for line in message.splitlines() if line.startswith("  ")]
    assert [line.split(":")[0] for line in lines] == [
        "/controller_manager",
        "/spawner_forward_position_controller",
    ]
    assert "package 'controller_manager' is not installed" in lines[0]
    assert "apt install ros-$ROS_DISTRO-ros2-control" in lines[0]  # the note from config/bringup/common.yaml
    assert "source /opt/ros/$ROS_DISTRO/setup.bash" in message
    assert isinstance(error.value, GraphError)  # the launch file and the runner print it as one message


def test_a_missing_optional_node_is_left_out_with_a_warning(ament_index):
    ament_index({**OURS, "robot_state_publisher": ["robot_state_publisher"]})
    specs = load_graph({"rviz": "true", "policy": "/ckpt"})
    assert names(specs)[-1] == "/rviz2"
    started, warnings = installed_graph(specs)
    assert names(started) == names(specs)[:-1]
    (warning,) = warnings
    assert warning.startswith("starting without the optional node /rviz2: package 'rviz2' is not installed")
    assert f"rviz2 -d {CONFIG}/rviz/lerobot.rviz" in warning  # the note, with $(config) substituted


def test_robot_state_publisher_is_optional_unless_ros2_control_reads_its_description(ament_index):
    ament_index({**OURS, "controller_manager": ROS["controller_manager"]})
    started, warnings = installed_graph(load_graph())
    assert names(started) == ["/sim"]
    assert [w.split(":")[0] for w in warnings] == [
        "starting without the optional node /robot_state_publisher"
    ]
    with pytest.raises(MissingPackagesError, match=r"\n  /robot_state_publisher: package"):
        installed_graph(load_graph({"controller": "trajectory"}))


def test_a_package_without_the_executable_is_missing(ament_index):
    ament_index({**OURS, **ROS, "controller_manager": ["ros2_control_node"]})
    with pytest.raises(MissingPackagesError) as error:
        installed_graph(load_graph({"controller": "forward"}))
    (line,) = [line for line in str(error.value).splitlines() if line.startswith("  ")]
    assert line.startswith(
        "  /spawner_forward_position_controller: package 'controller_manager' has no executable"
    )
    assert str(Path("controller_manager") / "lib" / "controller_manager" / "spawner") in line


def test_our_own_nodes_need_the_workspace_built_and_sourced(ament_index):
    ament_index(
        {name: executables for name, executables in {**OURS, **ROS}.items() if name != "lerobot_recorder"}
    )
    with pytest.raises(MissingPackagesError, match=r"/recorder: package 'lerobot_recorder'.*colcon build"):
        installed_graph(load_graph({"record": "true"}))


def test_without_a_ros_environment_every_node_is_missing(monkeypatch):
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    with pytest.raises(MissingPackagesError, match="AMENT_PREFIX_PATH is not set") as error:
        installed_graph(load_graph())
    assert "/sim: package 'lerobot_drivers'" in str(error.value)


def test_everything_installed_starts_the_whole_graph(ament_index):
    ament_index({**OURS, **ROS})
    for arguments in ({"policy": "/ckpt", "controller": "trajectory", "rviz": "true", "record": "true"},
                      {"robot": "so101", "teleop": "true", "record": "true"}):  # fmt: skip
        specs = load_graph(arguments)
        assert installed_graph(specs) == (specs, [])
