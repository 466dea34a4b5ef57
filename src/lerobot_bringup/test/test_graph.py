"""lerobot_bringup.graph: config/bringup → NodeSpecs for launch arguments and parameter overrides (no ROS)."""

from pathlib import Path

import pytest

from lerobot_bringup.graph import (
    ARGUMENTS,
    GraphError,
    launch_arguments,
    load_graph,
    parse_command_line,
)

CONFIG = Path(__file__).resolve().parents[3] / "config"


def names(specs) -> list[str]:
    return [s.full_name for s in specs]


def by_name(specs, full_name: str):
    return next(s for s in specs if s.full_name == full_name)


def test_default_graph_is_the_sim_alone():
    specs = load_graph()
    assert names(specs) == ["/sim", "/robot_state_publisher"]
    sim = specs[0]
    assert (sim.package, sim.executable, sim.python, sim.start, sim.stop) == (
        "lerobot_drivers",
        "sim",
        "lerobot_drivers.ros.sim_node:SimNode",
        "start",
        "stop",
    )
    assert Path(sim.parameters["scene"]) == CONFIG / "sim" / "so101_cube.xml"
    description = specs[1].parameters["robot_description"]
    assert description.lstrip().startswith("<?xml") and "ros2_control" not in description.split("-->", 2)[-1]
    assert specs[1].python is None and specs[1].note


@pytest.mark.parametrize(
    ("controller", "output", "topic"),
    [
        ("direct", "forward", "/arm/commands"),
        ("forward", "forward", "/forward_position_controller/commands"),
        ("trajectory", "trajectory", "/joint_trajectory_controller/joint_trajectory"),
    ],
)
def test_controller_sets_the_policy_output(controller, output, topic):
    specs = load_graph({"policy": "/ckpt", "controller": controller})
    policy = by_name(specs, "/policy")
    assert policy.parameters == {"checkpoint": "/ckpt", "output": output, "command_topic": topic}
    assert policy.start == "lifecycle" and policy.arguments == ["--autostart"]
    assert "/chunk_markers" in names(specs)
    ros2_control = controller != "direct"
    assert ("/controller_manager" in names(specs)) == ros2_control
    description = by_name(specs, "/robot_state_publisher").parameters["robot_description"]
    assert ("topic_based_ros2_control/TopicBasedSystem" in description) == ros2_control
    if ros2_control:
        spawner = by_name(specs, f"/spawner_{topic.split('/')[1]}")
        assert spawner.arguments[0] == topic.split("/")[1]
        manager = by_name(specs, "/controller_manager")
        assert Path(manager.parameter_files[0]).is_file()


def test_record_teleop_and_rviz_add_their_nodes():
    specs = load_graph({"robot": "so101", "record": "true", "teleop": "True", "rviz": "1"})
    assert names(specs) == [
        "/arm",
        "/front/camera",
        "/wrist/camera",
        "/robot_state_publisher",
        "/leader/arm",
        "/teleop",
        "/recorder",
        "/rviz2",
    ]
    leader = by_name(specs, "/leader/arm")
    assert leader.parameters["robot"] == "so101_leader" and leader.parameters["mode"] == "leader"
    assert by_name(specs, "/recorder").parameters == {"profile": "so101"}
    assert by_name(specs, "/front/camera").remappings == [
        ("/front/camera/color/image_raw", "/front/image_raw"),
        ("/front/camera/color/camera_info", "/front/camera_info"),
    ]
    rviz = by_name(specs, "/rviz2")
    assert rviz.arguments[0] == "-d" and Path(rviz.arguments[1]).is_file()


def test_koch_has_no_urdf_nodes():
    specs = load_graph({"robot": "koch", "policy": "ckpt"})
    assert "/robot_state_publisher" not in names(specs) and "/chunk_markers" not in names(specs)
    assert by_name(specs, "/arm").parameters["robot"] == "koch_follower"
    with pytest.raises(GraphError, match="controller:=direct"):
        load_graph({"robot": "koch", "controller": "forward"})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"robot": "ur5"}, "choose one of sim, so101, koch"),
        ({"controller": "effort"}, "choose one of direct, forward, trajectory"),
        ({"rviz": "maybe"}, "rviz must be true or false"),
        ({"policy": "ckpt", "teleop": "true"}, "choose one"),
        ({"robots": "sim"}, "unknown launch arguments"),
    ],
)
def test_bad_arguments_are_clear_errors(arguments, message):
    with pytest.raises(GraphError, match=message):
        load_graph(arguments)


def test_overrides_set_node_parameters_as_yaml_values():
    specs = load_graph(
        {"robot": "so101", "teleop": "true"},
        {
            "arm.port": "/dev/ttyUSB0",
            "leader/arm.id": "my_leader",
            "front/camera.align_depth.enable": "true",
            "wrist/camera.fps": "15",
        },
    )
    assert by_name(specs, "/arm").parameters["port"] == "/dev/ttyUSB0"
    assert by_name(specs, "/leader/arm").parameters["id"] == "my_leader"
    assert by_name(specs, "/front/camera").parameters["align_depth.enable"] is True
    fps = by_name(specs, "/wrist/camera").parameters["fps"]
    assert fps == 15.0 and isinstance(fps, float)  # the YAML default is a double: 15 becomes 15.0
    sim = load_graph(overrides={"sim.image_width": "128", "sim.cameras": "[front]"})[0]
    assert sim.parameters["image_width"] == 128 and sim.parameters["cameras"] == ["front"]


def test_bad_overrides_name_the_nodes():
    with pytest.raises(GraphError, match=r"no node 'policy'.*nodes: sim, robot_state_publisher"):
        load_graph(overrides={"policy.device": "cpu"})
    with pytest.raises(GraphError, match="ambiguous"):
        load_graph({"robot": "so101"}, {"camera.fps": "15.0"})


def test_command_line():
    arguments, overrides = parse_command_line(["robot:=so101", "sim.image_width:=64", "policy:="], "record")
    assert arguments == {"robot": "so101", "policy": "", "controller": "direct", "rviz": "false",
                         "record": "true", "teleop": "true"}  # fmt: skip
    assert overrides == {"sim.image_width": "64"}
    with pytest.raises(GraphError, match="expected name:=value"):
        parse_command_line(["robot=sim"])
    with pytest.raises(GraphError, match="unknown argument 'image_width'"):
        parse_command_line(["image_width:=64"])


def test_argument_table_and_presets():
    assert [a.name for a in ARGUMENTS] == ["robot", "policy", "controller", "rviz", "record", "teleop"]
    record = {a.name: a.default for a in launch_arguments("record")}
    assert record["record"] == record["teleop"] == "true"
    with pytest.raises(ValueError, match="bringup"):
        launch_arguments("demo")
    robots = next(a for a in ARGUMENTS if a.name == "robot").choices
    assert sorted(robots) == sorted(p.stem for p in (CONFIG / "bringup").glob("*.yaml") if p.stem != "common")


def test_config_dir_can_be_given(tmp_path):
    (tmp_path / "bringup").mkdir()
    (tmp_path / "bringup" / "sim.yaml").write_text(
        "nodes:\n  - {name: a, package: p, executable: e, parameters: {f: $(config)/x, v: $(var robot)}}\n"
        "controllers: {direct: {}}\n"
    )
    (spec,) = load_graph(config_dir=tmp_path)
    assert spec.parameters == {"f": f"{tmp_path.resolve()}/x", "v": "sim"}
    (tmp_path / "bringup" / "sim.yaml").write_text(
        "nodes:\n  - {name: a, package: p, executable: e, when: {colour: red}}\ncontrollers: {direct: {}}\n"
    )
    with pytest.raises(GraphError, match="unknown variable 'colour'"):
        load_graph(config_dir=tmp_path)


def test_a_controller_must_name_an_output_of_the_policy_node(tmp_path):
    (tmp_path / "bringup").mkdir()
    (tmp_path / "bringup" / "sim.yaml").write_text(
        "nodes: []\ncontrollers: {direct: {output: effort, command_topic: /x}}\n"
    )
    assert load_graph(config_dir=tmp_path) == []  # no policy: nothing is commanded
    with pytest.raises(GraphError, match="output 'effort'; the policy node's outputs are forward"):
        load_graph({"policy": "/ckpt"}, config_dir=tmp_path)


def test_optional_is_a_flag_or_conditions(tmp_path):
    optional = {s.full_name: s.optional for s in load_graph({"rviz": "true", "policy": "/ckpt"})}
    assert optional == {"/sim": False, "/robot_state_publisher": True, "/policy": False,
                        "/chunk_markers": False, "/rviz2": True}  # fmt: skip
    assert not by_name(load_graph({"controller": "forward"}), "/robot_state_publisher").optional
    (tmp_path / "bringup").mkdir()
    (tmp_path / "bringup" / "sim.yaml").write_text(
        "nodes:\n  - {name: a, package: p, executable: e, optional: maybe}\ncontrollers: {direct: {}}\n"
    )
    with pytest.raises(GraphError, match="bringup node a: optional must be true, false or conditions"):
        load_graph(config_dir=tmp_path)
