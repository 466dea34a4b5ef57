"""`lerobot-ros-bringup robot:=sim policy:=CKPT record:=true`: the suite's node graph in one process.

The same graph as `ros2 launch lerobot bringup.launch.py` (both come from config/bringup/ through
lerobot_bringup.graph), for machines without `ros2 launch`: our nodes are instantiated in this process with
their parameters, names, namespaces and remappings, started as they need (the sim's .start(), lifecycle nodes
configured and activated) and spun by one single-threaded executor (a multi-threaded one can hand a topic's
messages over out of order; the recorder and the policy node rely on order). External executables
(robot_state_publisher, rviz2, ros2_control) cannot run here: they are listed with how to get them.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import time
from collections.abc import Sequence

import rclpy
from rclpy.context import Context
from rclpy.executors import Executor, ExternalShutdownException, SingleThreadedExecutor
from rclpy.lifecycle import LifecycleNode, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.signals import SignalHandlerOptions

from lerobot_bringup.graph import (
    GraphError,
    NodeSpec,
    external,
    launch_arguments,
    load_graph,
    parse_command_line,
)

ACTIVATE_RETRY_S = 0.5  # a lifecycle node that refused to activate is asked again this often


def python_specs(specs: Sequence[NodeSpec]) -> list[NodeSpec]:
    """The specs this process can run (our rclpy nodes), in graph order: ``create_nodes`` returns one node
    per entry, in this order."""
    return [s for s in specs if s.python]


def node_class(spec: NodeSpec) -> type[Node]:
    """The rclpy node class named by ``spec.python`` ("module:Class")."""
    module_name, _, class_name = (spec.python or "").partition(":")
    if not module_name or not class_name:
        raise GraphError(f"node {spec.full_name}: python must be 'module:Class', got {spec.python!r}")
    cls = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, Node)):
        raise GraphError(f"node {spec.full_name}: {spec.python} is not an rclpy Node class")
    return cls


def node_options(spec: NodeSpec, context: Context | None = None) -> dict:
    """Keyword arguments that give a node class the spec's name, namespace, remappings and parameters."""
    cli_args = ["--ros-args", "-r", f"__node:={spec.name}"]
    for source, target in spec.remappings:
        cli_args += ["-r", f"{source}:={target}"]
    for path in spec.parameter_files:
        cli_args += ["--params-file", path]
    options = {
        "cli_args": cli_args,
        "parameter_overrides": [Parameter(name, value=value) for name, value in spec.parameters.items()],
        "context": context,
    }
    if spec.namespace:
        options["namespace"] = spec.namespace
    return options


def create_nodes(specs: Sequence[NodeSpec], context: Context | None = None) -> list[Node]:
    """Instantiate our nodes of ``specs`` (external ones are skipped: see :func:`python_specs`) in an
    initialised rclpy ``context`` (default: the global one). If one fails, those created are stopped and
    destroyed (:func:`stop_nodes`): a camera's capture thread, an arm's port and torque are released."""
    ours = python_specs(specs)
    nodes: list[Node] = []
    try:
        for spec in ours:
            nodes.append(node_class(spec)(**node_options(spec, context)))
    except BaseException:
        # Hardware nodes start in their constructor (capture threads, open ports): destroying is not enough.
        stop_nodes(ours[: len(nodes)], nodes)
        raise
    return nodes


def start_nodes(
    specs: Sequence[NodeSpec], nodes: Sequence[Node], executor: Executor, timeout: float = 60.0
) -> None:
    """Add ``nodes`` (from :func:`create_nodes`) to ``executor`` and start them: lifecycle nodes are
    configured, then ``start`` specs get ``.start()`` in graph order, then lifecycle nodes are activated once
    they are ready (the policy node's ``ready_to_activate``: its inputs have arrived), spinning ``executor``
    meanwhile. Raises RuntimeError when a node fails to configure or does not activate within ``timeout``
    seconds."""
    paired = list(zip(python_specs(specs), nodes, strict=True))
    for _, node in paired:
        executor.add_node(node)
    # Configure first: loading a checkpoint imports torch (and triton, which bundles LLVM), and that crashes
    # once the sim's renderer has loaded Mesa's LLVM in this process; the other order is fine.
    lifecycle = [(spec, node) for spec, node in paired if spec.start == "lifecycle"]
    for spec, node in lifecycle:
        if not isinstance(node, LifecycleNode):
            raise GraphError(f"node {spec.full_name}: start: lifecycle needs a LifecycleNode")
        if node.trigger_configure() != TransitionCallbackReturn.SUCCESS:
            raise RuntimeError(f"{spec.full_name} failed to configure (its log says why)")
    for spec, node in paired:
        if spec.start == "start":
            node.start()
    deadline = time.monotonic() + timeout
    for spec, node in lifecycle:
        # A node with a `ready_to_activate` property (the policy node: every input has arrived) is activated
        # once it says so: each refused activation logs an error. Others are asked every ACTIVATE_RETRY_S.
        waits = hasattr(type(node), "ready_to_activate")
        next_try = time.monotonic()
        while True:
            if time.monotonic() >= next_try and (not waits or node.ready_to_activate):
                if node.trigger_activate() == TransitionCallbackReturn.SUCCESS:
                    break
                next_try = time.monotonic() + ACTIVATE_RETRY_S
            if time.monotonic() > deadline:
                waiting = waits and not node.ready_to_activate
                reason = "not ready: are its input topics published?" if waiting else "its log says why"
                raise RuntimeError(f"{spec.full_name} did not activate within {timeout:.0f} s ({reason})")
            executor.spin_once(timeout_sec=0.05)


def stop_nodes(specs: Sequence[NodeSpec], nodes: Sequence[Node]) -> None:
    """Stop and destroy ``nodes`` in reverse graph order: active lifecycle nodes are deactivated (the policy
    node holds position) and shut down, then each spec's ``stop`` method runs. One node failing to stop does
    not keep the others running: its error is printed."""
    for spec, node in reversed(list(zip(python_specs(specs), nodes, strict=True))):
        try:
            if isinstance(node, LifecycleNode):
                # rclpy keeps the state here (its own trigger_shutdown reads it the same way).
                if node._state_machine.current_state[1] == "active":
                    node.trigger_deactivate()
                node.trigger_shutdown()
            if spec.stop:
                getattr(node, spec.stop)()
        except Exception as error:  # best effort per node; every node still gets destroyed
            print(f"lerobot-ros-bringup: stopping {spec.full_name}: {error}", file=sys.stderr)
        finally:
            node.destroy_node()


def describe_external(specs: Sequence[NodeSpec]) -> str:
    """What of the graph this process cannot run, and how to get it."""
    lines = []
    for spec in external(specs):
        command = " ".join(["ros2 run", spec.package, spec.executable, *spec.arguments])
        lines.append(f"  {spec.full_name}: `{command}` — {spec.note or 'needs a ROS 2 install'}")
    if not lines:
        return ""
    return "not started here (external executables; `ros2 launch lerobot bringup.launch.py` runs them):\n" + (
        "\n".join(lines)
    )


def parse_args(argv: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    arguments = launch_arguments()
    parser = argparse.ArgumentParser(
        prog="lerobot-ros-bringup",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[1],
        epilog="arguments (name:=value, as for `ros2 launch lerobot bringup.launch.py`):\n"
        + "\n".join(
            f"  {a.name}:={a.default or '<empty>'}  {a.description}"
            + (f" [{'|'.join(a.choices)}]" if a.choices else "")
            for a in arguments
        )
        + "\n  <node>.<parameter>:=value  set a node's parameter, e.g. sim.image_width:=320\n\n"
        "examples:\n  lerobot-ros-bringup robot:=sim\n"
        "  lerobot-ros-bringup robot:=sim policy:=outputs/train/act/checkpoints/last/pretrained_model\n"
        "  lerobot-ros-bringup robot:=so101 teleop:=true record:=true arm.id:=my_arm leader/arm.id:=leader1",
    )
    parser.add_argument("assignments", nargs="*", metavar="name:=value")
    return parse_command_line(parser.parse_args(argv).assignments)


def split_ros_args(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(our name:=value arguments, rclpy's arguments). Split by hand: rclpy would take ``robot:=sim`` for a
    (deprecated) remapping rule, remove it from ours and apply it to every node."""
    if "--ros-args" not in argv:
        return list(argv[1:]), list(argv[:1])
    start = list(argv).index("--ros-args")
    return list(argv[1:start]), [argv[0], *argv[start:]]


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv if argv is None else argv
    ours, ros_args = split_ros_args(argv)
    try:
        arguments, overrides = parse_args(ours)
        specs = load_graph(arguments, overrides)
    except GraphError as error:
        print(f"lerobot-ros-bringup: {error}", file=sys.stderr)
        return 2
    note = describe_external(specs)
    if note:
        print(note, file=sys.stderr)
    # Ctrl-C raises KeyboardInterrupt here instead of shutting the context down under the nodes' own threads
    # (the sim publishes from one): the nodes stop first, then ROS shuts down. SIGTERM (ros2 launch's second
    # try, docker stop) stops the same way; set explicitly because a shell starting us in the background
    # leaves SIGINT ignored.
    rclpy.init(args=ros_args, signal_handler_options=SignalHandlerOptions.NO)
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.default_int_handler)
    executor = SingleThreadedExecutor()
    nodes: list[Node] = []
    try:
        nodes = create_nodes(specs)
        start_nodes(specs, nodes, executor)
        names = ", ".join(s.full_name for s in python_specs(specs))
        print(f"lerobot-ros-bringup: running {names}; Ctrl-C stops", file=sys.stderr)
        while rclpy.ok():
            executor.spin_once(timeout_sec=0.1)  # returns to Python now and then: Ctrl-C gets through
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as error:  # any node's set-up failure (port, camera, checkpoint, mapping): one line
        print(f"lerobot-ros-bringup: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        if nodes:  # create_nodes destroys what it made when it fails
            stop_nodes(specs, nodes)
        executor.shutdown()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
