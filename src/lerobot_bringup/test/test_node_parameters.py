"""Every node of the suite declares its parameters the one way: from its PARAMETERS table, each with a
description (`ros2 param describe`), and its command's --help lists them all."""

import importlib
import inspect
from pathlib import Path

import pytest

pytest.importorskip("rclpy")

from rclpy.node import Node

pytestmark = pytest.mark.ros

SRC = Path(__file__).resolve().parents[2]
# module → its node class. The hardware nodes open their device in the constructor: they are stopped right
# after declaring their parameters.
NODES = {
    "lerobot_drivers.ros.arm_node": "ArmNode",
    "lerobot_drivers.ros.camera_node": "CameraNode",
    "lerobot_drivers.ros.sim_node": "SimNode",
    "lerobot_drivers.ros.expert_node": "ExpertNode",
    "lerobot_drivers.ros.teleop_node": "TeleopNode",
    "lerobot_recorder.ros.record_node": "RecordNode",
    "lerobot_policy_node.ros.policy_node": "PolicyNode",
    "lerobot_bringup.ros.chunk_markers": "ChunkMarkersNode",
    "lerobot_bringup.ros.sim_eval": "SimEvaluator",
}
HARDWARE = {"ArmNode", "CameraNode"}


class Declared(Exception):
    """Raised by the probe in place of a hardware node's declare_parameters: construction stops there."""


def test_the_list_names_every_node_class_of_the_suite():
    found = set()
    for path in SRC.glob("lerobot_*/lerobot_*/ros/*.py"):
        module = importlib.import_module(".".join(path.relative_to(path.parents[2]).with_suffix("").parts))
        found |= {
            f"{module.__name__}:{name}"
            for name, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, Node) and cls.__module__ == module.__name__
        }
    assert found == {f"{module}:{name}" for module, name in NODES.items()}


@pytest.mark.parametrize("module_name", sorted(NODES))
def test_every_declared_parameter_has_a_description(module_name, ros_context, tmp_path, monkeypatch):
    module = importlib.import_module(module_name)
    cls = getattr(module, NODES[module_name])
    descriptors = {}

    def describe(node: Node) -> None:
        names = node.list_parameters([], 0).names
        descriptors.update(zip(names, node.describe_parameters(names), strict=True))

    overrides = []
    if cls.__name__ == "RecordNode":
        from rclpy.parameter import Parameter

        overrides = [Parameter("output_dir", value=str(tmp_path))]  # the recorder makes its output folder
    if cls.__name__ in HARDWARE:
        declare = module.declare_parameters

        def probe(node: Node, parameters: dict) -> dict:
            declare(node, parameters)
            describe(node)
            node.destroy_node()
            raise Declared

        monkeypatch.setattr(module, "declare_parameters", probe)
        with pytest.raises(Declared):
            cls(context=ros_context)
    else:
        node = cls(context=ros_context, parameter_overrides=overrides)
        try:
            describe(node)
        finally:
            node.destroy_node()
    bare = Node("bare", context=ros_context)
    for name in bare.list_parameters([], 0).names:  # rclpy's own (use_sim_time, ...)
        descriptors.pop(name)
    bare.destroy_node()
    assert set(descriptors) == set(module.PARAMETERS), "every parameter comes from the PARAMETERS table"
    undescribed = [name for name, descriptor in descriptors.items() if not descriptor.description]
    assert not undescribed, f"{cls.__name__} declares {undescribed} without a description"


@pytest.mark.parametrize("module_name", sorted(NODES))
def test_help_lists_every_parameter_with_its_description(module_name, capsys):
    module = importlib.import_module(module_name)
    with pytest.raises(SystemExit) as exit_:
        module.main(["node", "--help"])
    assert exit_.value.code == 0
    shown = "".join(capsys.readouterr().out.split())  # argparse wraps lines
    for name, (_, text) in module.PARAMETERS.items():
        assert f"{name}(" in shown and "".join(text.split()) in shown, name
