"""`ros2 launch lerobot bringup.launch.py robot:=sim|so101|koch policy:=CKPT
controller:=direct|forward|trajectory rviz:=true|false record:=true|false teleop:=true|false
[<node>.<parameter>:=value ...]`

The node list comes from config/bringup/<robot>.yaml through lerobot_bringup.graph, the same description the
one-process runner (`lerobot-ros-bringup`, same arguments) starts; the arguments come from its table. Every
node's package is looked up before any starts (lerobot_bringup.packages): a missing one stops the launch with
its install note, or is left out with a warning when it is optional (rviz2).
"""

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.logging import get_logger
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import LifecycleNode, Node
from launch_ros.parameter_descriptions import ParameterValue

from lerobot_bringup.graph import launch_arguments, load_graph
from lerobot_bringup.packages import installed_graph

PRESET = "bringup"


def _parameter(value):
    # launch_ros reads plain strings as YAML ("0" would become an integer): keep strings strings.
    return ParameterValue(value, value_type=str) if isinstance(value, str) else value


def _nodes(context):
    arguments = {a.name: LaunchConfiguration(a.name).perform(context) for a in launch_arguments(PRESET)}
    # Any other `<node>.<parameter>:=value` on the command line sets that node's parameter.
    overrides = {k: v for k, v in context.launch_configurations.items() if "." in k}
    # All packages first: launch_ros finds a missing one only when it starts that node, after the ones before
    # it (the sim) are running, and they outlive the failed launch. Raising here starts nothing.
    specs, warnings = installed_graph(load_graph(arguments, overrides))
    for warning in warnings:
        get_logger("lerobot.bringup").warning(warning)
    actions = []
    for spec in specs:
        node_type = LifecycleNode if spec.start == "lifecycle" else Node
        actions.append(
            node_type(
                package=spec.package,
                executable=spec.executable,
                name=spec.name,
                namespace=spec.namespace,
                parameters=[*spec.parameter_files, {k: _parameter(v) for k, v in spec.parameters.items()}],
                remappings=spec.remappings,
                arguments=spec.arguments,
                output="screen",
            )
        )
    return actions


def generate_launch_description():
    return LaunchDescription(
        [
            *(
                DeclareLaunchArgument(
                    a.name, default_value=a.default, description=a.description, choices=a.choices
                )
                for a in launch_arguments(PRESET)
            ),
            OpaqueFunction(function=_nodes),
        ]
    )
