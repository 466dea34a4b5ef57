"""How the drivers' nodes run: init, create, spin; a configuration or hardware problem prints one clear line
(no traceback) and exits with status 1; the node is always closed and ROS shut down."""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node


def run_node(
    prog: str,
    make: Callable[[], Node],
    errors: tuple[type[Exception], ...],
    args: list[str] | None = None,
    spin: Callable[[Node], None] = rclpy.spin,
    close: Callable[[Node], None] = lambda node: None,
) -> int:
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
    finally:
        if node is not None:
            close(node)
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
