"""The launch files and the graph they share with the runner: Python 3.10 syntax, the same argument table, and
every NodeSpec of every combination names an installed executable and a node class that declares its
parameters (checked by instantiating the class with the spec's parameters, as the runner does)."""

import ast
import importlib
import importlib.util
import itertools
from pathlib import Path

import pytest

from lerobot_bringup.graph import ARGUMENTS, PRESETS, GraphError, launch_arguments, load_graph
from lerobot_bringup.packages import installed_graph

ROOT = Path(__file__).resolve().parents[3]
LAUNCH_FILES = {
    "bringup": ROOT / "launch" / "bringup.launch.py",
    "record": ROOT / "launch" / "record.launch.py",
}
# Node classes that open hardware in their constructor: their declared parameters are checked against the
# PARAMETERS table they declare from, without constructing them.
HARDWARE = {"lerobot_drivers.ros.arm_node:ArmNode", "lerobot_drivers.ros.camera_node:CameraNode"}


def combinations() -> list[dict[str, str]]:
    choices = {
        "robot": ("sim", "so101", "koch"),
        "controller": ("direct", "forward", "trajectory"),
        "record": ("true", "false"),
        "teleop": ("true", "false"),
        "policy": ("", "/checkpoints/act"),
        "rviz": ("true",),
    }
    return [dict(zip(choices, values, strict=True)) for values in itertools.product(*choices.values())]


def all_specs():
    specs, refused = [], 0
    for arguments in combinations():
        try:
            specs += load_graph(arguments)
        except GraphError:  # policy with teleop; ros2_control on the Koch (no URDF)
            refused += 1
    assert refused < len(combinations()) / 2
    return specs


@pytest.mark.parametrize("preset", sorted(LAUNCH_FILES))
def test_launch_file_parses_as_python_3_10(preset):
    ast.parse(LAUNCH_FILES[preset].read_text(), feature_version=(3, 10))


@pytest.mark.parametrize("preset", sorted(LAUNCH_FILES))
def test_launch_file_declares_the_runners_arguments_from_the_table(preset):
    """Every DeclareLaunchArgument sits in a loop over launch_arguments(PRESET) with PRESET this file's name,
    taking name and default from the table: so the declared names and defaults are exactly the table's."""
    tree = ast.parse(LAUNCH_FILES[preset].read_text())
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    assert constants.get("PRESET") == preset
    declarations = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "DeclareLaunchArgument"
    ]
    assert declarations, "no DeclareLaunchArgument"
    loops = [node for node in ast.walk(tree) if isinstance(node, ast.GeneratorExp | ast.ListComp)]
    for declaration in declarations:
        loop = next(loop for loop in loops if declaration in ast.walk(loop.elt))
        (generator,) = loop.generators
        variable = generator.target.id
        source = ast.unparse(generator.iter)
        assert source in ("launch_arguments(PRESET)", "arguments"), source
        assert ast.unparse(declaration.args[0]) == f"{variable}.name"
        keywords = {k.arg: ast.unparse(k.value) for k in declaration.keywords}
        assert keywords["default_value"] == f"{variable}.default"
    declared = {a.name: a.default for a in launch_arguments(preset)}
    runner = {a.name: a.default for a in ARGUMENTS}
    assert set(declared) == set(runner)
    assert {k: v for k, v in declared.items() if runner[k] != v} == PRESETS[preset]


def test_every_spec_names_an_installed_executable_and_a_node_class():
    from rclpy.node import Node

    for spec in {(s.package, s.executable, s.python) for s in all_specs()}:
        package, executable, python = spec
        if python is None:
            continue  # robot_state_publisher, rviz2, ros2_control: not part of this workspace
        path = ROOT / "install" / package / "lib" / package / executable
        assert path.is_file(), f"{path} missing: colcon build the workspace"
        module, _, name = python.partition(":")
        cls = getattr(importlib.import_module(module), name)
        assert isinstance(cls, type) and issubclass(cls, Node), python


def test_every_spec_parameter_is_declared_by_its_node(ros_context, tmp_path):
    from lerobot_bringup.ros.run import node_class, node_options

    checked = set()
    for spec in all_specs():
        key = (spec.full_name, spec.python, repr(sorted(spec.parameters.items())))
        if spec.python is None or key in checked:
            continue
        checked.add(key)
        if spec.python in HARDWARE:
            module = importlib.import_module(spec.python.partition(":")[0])
            assert set(spec.parameters) <= set(module.PARAMETERS), spec
            continue
        parameters = dict(spec.parameters)
        if "profile" in parameters:
            parameters["output_dir"] = str(tmp_path)  # the recorder makes its output folder
        options = node_options(type(spec)(**{**spec.__dict__, "parameters": parameters}), ros_context)
        node = node_class(spec)(**options)
        try:
            undeclared = [p for p in spec.parameters if not node.has_parameter(p)]
            assert not undeclared, f"{spec.full_name} ({spec.python}) declares no {undeclared}"
            assert node.get_fully_qualified_name() == spec.full_name
        finally:
            node.destroy_node()


@pytest.mark.parametrize("preset", sorted(LAUNCH_FILES))
def test_launch_description_loads_where_launch_is_installed(preset):
    pytest.importorskip(
        "launch_ros"
    )  # first: the repository's launch/ folder imports as a namespace `launch`
    launch = pytest.importorskip("launch")
    spec = importlib.util.spec_from_file_location(f"{preset}_launch", LAUNCH_FILES[preset])
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    description = module.generate_launch_description()
    declared = {a.name: a.default_value for a in description.get_launch_arguments()}
    assert set(declared) == {a.name for a in ARGUMENTS}
    if preset == "bringup":
        context = launch.LaunchContext()
        nodes = []
        for entity in description.entities:
            for action in entity.visit(context) or []:
                nodes.append(action)
        assert len(nodes) == len(installed_graph(load_graph())[0])


def test_bringup_launch_looks_up_every_package_before_it_starts_a_node():
    """launch_ros finds a missing package only when it starts that node, with the ones before it running:
    _nodes makes its Node actions from installed_graph(load_graph(...)), which raises before any starts."""
    tree = ast.parse(LAUNCH_FILES["bringup"].read_text())
    function = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "_nodes")
    (graph,) = [
        n for n in ast.walk(function) if isinstance(n, ast.Call) and ast.unparse(n.func) == "load_graph"
    ]
    (checked,) = [
        n for n in ast.walk(function) if isinstance(n, ast.Call) and ast.unparse(n.func) == "installed_graph"
    ]
    assert checked.args == [graph]
    (assignment,) = [n for n in ast.walk(function) if isinstance(n, ast.Assign) and n.value is checked]
    started = ast.unparse(assignment.targets[0].elts[0])
    (loop,) = [
        n
        for n in ast.walk(function)
        if isinstance(n, ast.For)
        and any(isinstance(c, ast.Call) and ast.unparse(c.func) == "node_type" for c in ast.walk(n))
    ]
    assert ast.unparse(loop.iter) == started, "the Node actions must come from the checked graph"
