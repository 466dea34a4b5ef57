"""Test settings shared by every package's tests.

DDS isolation: each pytest run gets its own ROS domain and keeps discovery on this host, so that parallel
runs (other developers, CI) never see each other's nodes and no test traffic leaves the machine; and Fast DDS
uses its large-data transports, as the suite does everywhere. Set before any test initialises rclpy; child
processes inherit it.
"""

import gc
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

os.environ["ROS_DOMAIN_ID"] = os.environ.get("LEROBOT_ROS_TEST_DOMAIN_ID", str(random.randint(1, 100)))
os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
# Camera images (~1 MB): Fast DDS's large-data mode with a shared-memory segment that holds the frames in
# flight, as the venv sets it (scripts/setup.sh says why).
os.environ.setdefault("FASTDDS_BUILTIN_TRANSPORTS", "LARGE_DATA?max_msg_size=1MB&sockets_size=16MB")


@pytest.fixture
def ros_context() -> Iterator[object]:
    """An initialised rclpy context of its own, shut down after the test."""
    import rclpy
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context)
    try:
        yield context
    finally:
        rclpy.shutdown(context=context)
        # A node's DDS participant lives until the last node of its context is gone; nodes left in reference
        # cycles would keep theirs (and its threads) alive for the rest of the run.
        gc.collect()


@pytest.fixture
def spin_until() -> Callable[..., bool]:
    """Spin ``executor`` until ``predicate()`` is true or ``timeout`` seconds pass; returns the predicate."""

    def spin(executor, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate() and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.05)
        return predicate()

    return spin


@pytest.fixture
def start_fake_robot() -> Iterator[Callable[[int, int], subprocess.Popen]]:
    """start(width, height) runs test/fake_robot.py (numbered joint states, two cameras, commands) in its own
    process; every process started is killed after the test."""
    processes = []

    def start(width: int, height: int) -> subprocess.Popen:
        script = Path(__file__).with_name("test") / "fake_robot.py"
        processes.append(subprocess.Popen([sys.executable, str(script), str(width), str(height)]))
        return processes[-1]

    yield start
    for process in processes:
        process.kill()
        process.wait()
