"""Is every node of a graph installed? Looked up in the ament index before anything starts (no rclpy).

`ros2 launch` resolves a node's package only when it starts that node: a missing robot_state_publisher,
rviz2 or controller_manager fails the launch after the nodes before it are running. bringup.launch.py passes
its graph through :func:`installed_graph` first: a missing required node stops it with the node's install
note and nothing started; a missing optional one (`optional:` in config/bringup) is left out with a warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from ament_index_python.packages import get_packages_with_prefixes

from lerobot_bringup.graph import GraphError, NodeSpec

# Our own nodes have no `note`: they come with this workspace.
WORKSPACE_NOTE = "part of this workspace: colcon build it, then source install/setup.bash"
SOURCE_HINT = (
    "install them, then source /opt/ros/$ROS_DISTRO/setup.bash and this workspace's install/setup.bash; "
    "or choose launch arguments that do without them (e.g. controller:=direct needs no ros2_control)"
)


class MissingPackagesError(GraphError):
    """Required nodes of the graph are not installed; the message lists them with how to install each."""


def installed_packages() -> dict[str, Path]:
    """Package name → install prefix, from the ament index of AMENT_PREFIX_PATH (empty when it is unset)."""
    try:
        return {name: Path(prefix) for name, prefix in get_packages_with_prefixes().items()}
    except OSError:  # ament_index_python: AMENT_PREFIX_PATH not set
        return {}


def why_missing(spec: NodeSpec, packages: Mapping[str, Path]) -> str:
    """Why ``spec`` cannot start (its package or executable is not installed); empty when it can."""
    if spec.package not in packages:
        return f"package {spec.package!r} is not installed (not in the ament index of AMENT_PREFIX_PATH)"
    # Where `ros2 run` and launch_ros look for it.
    executable = packages[spec.package] / "lib" / spec.package / spec.executable
    if not executable.is_file():
        return f"package {spec.package!r} has no executable {spec.executable!r} ({executable} missing)"
    return ""


def installed_graph(specs: Sequence[NodeSpec]) -> tuple[list[NodeSpec], list[str]]:
    """(the nodes of ``specs`` to start, a warning per optional node left out because it is not installed).
    Raises MissingPackagesError, listing every required node that is not installed with its install note,
    when there is one: then nothing may start."""
    packages = installed_packages()
    keep: list[NodeSpec] = []
    warnings: list[str] = []
    missing: list[str] = []
    for spec in specs:
        reason = why_missing(spec, packages)
        if not reason:
            keep.append(spec)
            continue
        line = f"{spec.full_name}: {reason}; {spec.note or WORKSPACE_NOTE}"
        if spec.optional:
            warnings.append(f"starting without the optional node {line}")
        else:
            missing.append(f"  {line}")
    if missing:
        unset = "" if packages else " (AMENT_PREFIX_PATH is not set: no ROS 2 environment is sourced)"
        raise MissingPackagesError(
            f"nothing started: the graph needs nodes that are not installed{unset}:\n"
            + "\n".join(missing)
            + f"\n{SOURCE_HINT}"
        )
    return keep, warnings
