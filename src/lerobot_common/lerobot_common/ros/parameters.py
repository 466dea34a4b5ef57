"""ROS parameters the one way every node declares them: a table of name → (default, description), declared
with descriptions (`ros2 param describe`) and listed by `--help` (run_node)."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.parameter import Parameter

# name → (default, description). A default of a Parameter.Type declares the type with no value (arrays that
# may stay empty: ROS cannot infer an array's type from []).
Parameters = Mapping[str, tuple[Any, str]]


def declare_parameters(node: Node, parameters: Parameters) -> dict[str, Any]:
    """Declare ``parameters`` on ``node`` and return their values by name. Read-only: every node reads its
    parameters once at start-up, so a later change would not take effect, and ROS refuses it instead."""
    return {
        name: node.declare_parameter(
            name, default, ParameterDescriptor(description=text, read_only=True)
        ).value
        for name, (default, text) in parameters.items()
    }


def parameters_help(parameters: Parameters, width: int) -> str:
    """The ``--help`` listing of ``parameters``, one a line (wrapped to ``width``): name, default and
    description."""
    lines = ["ROS parameters (--ros-args -p name:=value):"]
    for name, (default, text) in parameters.items():
        entry = f"{name} ({_default(default)}): {text}"
        lines.append(textwrap.fill(entry, width, initial_indent="  ", subsequent_indent="      "))
    return "\n".join(lines)


def _default(default: Any) -> str:
    if isinstance(default, Parameter.Type):
        return f"{default.name.lower()}, unset"
    return repr(default)
