"""How the suite's nodes run: parse the command line, init, create, spin; a configuration or hardware problem
prints one clear line (no traceback) and exits with an error status; the node is always closed and ROS shut
down."""

from __future__ import annotations

import argparse
import shutil
import sys
import textwrap
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.utilities import remove_ros_args

from lerobot_common.ros.parameters import Parameters, parameters_help


def spin_until_shutdown(node: Node, options: argparse.Namespace) -> None:
    """Spin ``node`` until ROS shuts down (Ctrl-C). One executor thread (rclpy's global executor): rclpy's
    multi-threaded executor can hand a topic's messages over out of order."""
    rclpy.spin(node)


def run_node(
    prog: str,
    make: Callable[..., Node],
    errors: tuple[type[Exception], ...] = (),
    args: list[str] | None = None,
    *,
    parameters: Parameters,
    options: Callable[[argparse.ArgumentParser], None] | None = None,
    spin: Callable[[Node, argparse.Namespace], None] = spin_until_shutdown,
    close: Callable[[Node], None] = lambda node: None,
    description: str = "",
    epilog: str = "",
    error_status: int = 1,
) -> int:
    """Run the node ``make(parameter_overrides=...)`` makes; ``args`` is the whole command line (default
    sys.argv). ``--help`` prints ``description``, ``parameters`` (the node's table) and ``epilog`` without
    starting anything. ``options`` adds command-line options: one whose ``dest`` names a parameter is a
    shortcut for it (given and not empty, it overrides the parameter); ``spin`` gets the others. An error of
    one of the ``errors`` types (a bad configuration, missing hardware) exits with ``error_status``."""
    args = sys.argv if args is None else args
    # Wrapped here, as argparse would, so that the listing keeps one parameter a line.
    width = shutil.get_terminal_size().columns - 2
    paragraphs = (parameters_help(parameters, width), _fill(epilog, width))
    parser = argparse.ArgumentParser(
        prog=prog,
        description=_fill(description, width),
        epilog="\n\n".join(filter(None, paragraphs)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if options is not None:
        options(parser)
    parsed = parser.parse_args(remove_ros_args(args)[1:])  # `ros2 run` and launch append --ros-args
    overrides = [
        Parameter(name, value=value)
        for name, value in vars(parsed).items()
        if name in parameters and value not in (None, "")
    ]
    rclpy.init(args=args)
    node = None
    try:
        node = make(parameter_overrides=overrides)
        spin(node, parsed)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except errors as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return error_status
    except Exception:
        # Ctrl-C's handler can shut ROS down between two waits of the executor, which then fails on the dead
        # context instead of raising ExternalShutdownException: that is a normal stop, anything else is not.
        if rclpy.ok():
            raise
    finally:
        if node is not None:
            close(node)
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


def _fill(text: str, width: int) -> str:
    return textwrap.fill(" ".join(text.split()), width)


def spin_until_finished(node: Node, options: argparse.Namespace | None = None) -> None:
    """Spin ``node`` (one executor thread) until its ``finished`` property turns true: for nodes that run a
    fixed number of episodes (the expert, the evaluator) and then exit."""
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while rclpy.ok() and not node.finished:
        executor.spin_once(timeout_sec=0.1)
