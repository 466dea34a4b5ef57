"""How the drivers' nodes run: init, create, spin; a configuration or hardware problem prints one clear line
(no traceback) and exits with status 1; the node is always closed and ROS shut down."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node


def run_node(
    prog: str,
    make: Callable[[], Node],
    errors: tuple[type[Exception], ...],
    args: list[str] | None = None,
    spin: Callable[[Node], None] = rclpy.spin,
    close: Callable[[Node], None] = lambda node: None,
    description: str = "",
    epilog: str = "",
) -> int:
    """Run a node; ``args`` is the whole command line (default sys.argv). ``--help`` prints ``description``
    and ``epilog`` (the node's ROS parameters) without starting anything."""
    args = sys.argv if args is None else args
    parser = argparse.ArgumentParser(prog=prog, description=description, epilog=epilog)
    parser.parse_known_args(args[1:])  # known args only: `ros2 run` appends --ros-args
    rclpy.init(args=args)
    node = None
    try:
        node = make()
        spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except errors as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 1
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


def spin_until_finished(node: Node) -> None:
    """Spin ``node`` (one executor thread) until its ``finished`` property turns true: for nodes that run a
    fixed number of episodes (the expert, the evaluator) and then exit."""
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    while rclpy.ok() and not node.finished:
        executor.spin_once(timeout_sec=0.1)


def parameters_help(parameters: dict[str, tuple[object, str]]) -> str:
    """An epilog listing ROS parameters (name → (default, description)) for ``--help``."""
    listed = "; ".join(f"{name} ({default!r}): {text}" for name, (default, text) in parameters.items())
    return f"ROS parameters (--ros-args -p name:=value): {listed}"
