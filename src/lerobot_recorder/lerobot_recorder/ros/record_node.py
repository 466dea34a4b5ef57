"""`ros2 run lerobot_recorder record`: records the topics of a mapping into one rosbag2 folder per episode.

Thin shell over lerobot_recorder.recording: subscribes raw (no decode), stamps with the receive time like
`ros2 bag record`, and exposes episode control as services, a status topic, a progress line and keys.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import threading
from pathlib import Path

import rclpy
from rclpy.event_handler import SubscriptionEventCallbacks
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data

from lerobot_common.ros.messages import message_class
from lerobot_common.ros.parameters import declare_parameters
from lerobot_common.ros.qos import LATCHED_QOS
from lerobot_common.ros.run import run_node
from lerobot_dataset.mapping import IMAGE_TYPES, STAMPED_TYPES, MappingError, load_mapping
from lerobot_msgs.msg import RecorderStatus, TopicStatistics
from lerobot_msgs.srv import DiscardEpisode, StartEpisode, StopEpisode
from lerobot_recorder.keyboard import run_keyboard, single_keys
from lerobot_recorder.recording import (
    EpisodeRecorder,
    EpisodeSummary,
    RecorderError,
    Status,
    describe,
    format_progress,
)

DEFAULT_OUTPUT = "~/lerobot_ros/bags"
# Joint states and commands are small and must not be lost: reliable, with room for bursts.
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
PARAMETERS = {
    "profile": ("so101_sim", "mapping name in config/mappings/ or path to a YAML"),
    "output_dir": ("", f"folder for the episode bags; empty: {DEFAULT_OUTPUT}/<profile>"),
    "storage": ("", "bag storage: mcap or sqlite3; empty: the mapping's"),
    "max_queue_mb": (512, "MiB of messages queued for writing; beyond it messages are dropped (and counted)"),
    "flush_interval": (
        0.5,
        "seconds of messages a killed recorder may lose at most: the MCAP chunk is closed (sqlite3: the "
        "transaction committed) this often, s",
    ),
    "status_rate": (2.0, "~/status messages per second, Hz"),
}


class RecordNode(Node):
    def __init__(self, **kwargs) -> None:
        super().__init__("recorder", **kwargs)
        p = declare_parameters(self, PARAMETERS)
        profile, output, storage = p["profile"], p["output_dir"], p["storage"]
        max_queue_mb, status_rate, flush_interval = p["max_queue_mb"], p["status_rate"], p["flush_interval"]
        self.mapping = load_mapping(profile)
        output_dir = Path(os.path.expanduser(output or DEFAULT_OUTPUT)) / (
            self.mapping.name if not output else ""
        )
        self.recorder = EpisodeRecorder(
            output_dir,
            self.mapping,
            storage=storage or None,
            max_queue_bytes=int(max_queue_mb) * 2**20,
            flush_interval=float(flush_interval),
        )
        self.subscribed: set[str] = set()
        for topic, msgtype in self.mapping.topics().items():
            if msgtype:
                self._subscribe(topic, msgtype)
        if self.get_parameter("use_sim_time").value:
            self._warn_unstamped()
        # Latched: late subscribers (dashboards) get the last status at once.
        self.status_pub = self.create_publisher(RecorderStatus, "~/status", LATCHED_QOS)
        self.create_service(StartEpisode, "~/start_episode", self._on_start)
        self.create_service(StopEpisode, "~/stop_episode", self._on_stop)
        self.create_service(DiscardEpisode, "~/discard_episode", self._on_discard)
        self.create_timer(1.0 / status_rate, self.publish_status)
        self.get_logger().info(
            f"profile '{self.mapping.name}': {len(self.mapping.topics())} topics → {output_dir} "
            f"({self.recorder.storage}); call ~/start_episode to record"
        )
        self.publish_status()

    def _subscribe(self, topic: str, msgtype: str) -> None:
        self.subscribed.add(topic)
        qos = qos_profile_sensor_data if msgtype in IMAGE_TYPES else RELIABLE
        self.create_subscription(
            message_class(msgtype),
            topic,
            lambda data, t=topic: self._on_message(t, data),
            qos,
            raw=True,
            event_callbacks=SubscriptionEventCallbacks(
                message_lost=lambda info, t=topic: self.recorder.count_lost(t, info.total_count_change)
            ),
        )

    def _warn_unstamped(self) -> None:
        """On simulated time a message without a stamp is timed with the last /clock this node processed,
        which lags the publisher's tick (10–30 ms measured at 3× speed): name the mapped topics it hits."""
        unstamped = [
            f"{topic} ({msgtype})"
            for topic, msgtype in self.mapping.topics().items()
            if msgtype and msgtype not in STAMPED_TYPES
        ]
        if unstamped:
            self.get_logger().warning(
                f"use_sim_time: {', '.join(unstamped)} carry no stamp, so their samples are timed with the "
                "recorder's last /clock, which lags simulated time by up to a clock tick (10–30 ms at 3× "
                "speed); publish them stamped (e.g. sensor_msgs/JointState) for exact timing"
            )

    def _on_message(self, topic: str, data: bytes) -> None:
        self.recorder.put(topic, self.get_clock().now().nanoseconds, data)

    def _recorded_topics(self) -> dict[str, tuple[str, str | None]]:
        """topic → (type, type hash) of the mapped topics and `record_also` topics that have publishers."""
        graph = dict(self.get_topic_names_and_types())
        topics = {}
        for topic, msgtype in self.mapping.topics().items():
            if not msgtype:  # record_also: the type is only known once a publisher appears
                if topic not in graph:
                    self.get_logger().warning(f"{topic} has no publisher: not recorded in this episode")
                    continue
                msgtype = graph[topic][0]
                if topic not in self.subscribed:
                    self._subscribe(topic, msgtype)
            publishers = self.get_publishers_info_by_topic(topic)
            type_hash = str(publishers[0].topic_type_hash) if publishers else ""
            topics[topic] = (msgtype, type_hash if type_hash.startswith("RIHS01_") else None)
        return topics

    # -- episode control (services and keys share these) ----------------------------------------------------

    def start(self, task: str = "") -> str:
        index, path = self.recorder.start(self._recorded_topics(), task=task)
        return f"recording episode {index} into {path}"

    def stop(self) -> str:
        """Stop the episode and log what was saved; RecorderError when the bag could not be written whole."""
        summary = self.recorder.stop()
        if summary.error:
            raise RecorderError(f"episode {summary.episode_index} was not saved whole: {summary.error}")
        text = f"saved {describe(summary)}{self._silent_hints(summary)}; bag: {summary.bag_path}"
        (self.get_logger().warning if summary.silent or summary.slow else self.get_logger().info)(text)
        return text

    def _silent_hints(self, summary: EpisodeSummary) -> str:
        """What the graph says about the topics that sent nothing: no publisher, or another type."""
        expected = self.mapping.topics()
        hints = []
        for topic in summary.silent:
            published = sorted({p.topic_type for p in self.get_publishers_info_by_topic(topic)})
            wanted = expected.get(topic)
            if not published:
                hints.append(f"{topic} has no publisher")
            elif wanted and wanted not in published:
                hints.append(f"{topic} is published as {', '.join(published)}, the mapping expects {wanted}")
            else:
                hints.append(f"{topic} has a publisher that sent nothing")
        return f" ({'; '.join(hints)})" if hints else ""

    def close(self) -> None:
        """Save the episode being recorded, if any: run before the node is destroyed (Ctrl-C, bringup's stop).
        Idle, there is nothing to do."""
        if self.recorder.episode_open():
            try:
                self.stop()
            except RecorderError as error:
                self.get_logger().error(str(error))

    def handle_command(self, command: str) -> bool:
        """A keyboard command (called from the keyboard thread); False ends the program."""
        recording = self.recorder.episode_open()
        try:
            if command == "toggle" and recording:
                self.stop()  # logs what was saved
            elif command == "toggle":
                self.get_logger().info(self.start())
            elif command == "discard":
                self.get_logger().info(f"discarded episode {self.recorder.discard()}")
            elif command == "rerecord":
                self.recorder.discard()
                self.get_logger().info(self.start())
            elif command == "quit":
                if recording:
                    self.stop()
                return False
            else:
                return True
        except RecorderError as error:
            self.get_logger().error(str(error))
            return command != "quit"
        self.publish_status()
        return True

    def _on_start(
        self, request: StartEpisode.Request, response: StartEpisode.Response
    ) -> StartEpisode.Response:
        try:
            response.message = self.start(request.task)
            response.success = True
        except RecorderError as error:
            response.message = str(error)
        status = self.recorder.status()
        response.episode_index, response.bag_path = status.episode_index, status.bag_path
        self.publish_status()
        return response

    def _on_stop(self, request: StopEpisode.Request, response: StopEpisode.Response) -> StopEpisode.Response:
        previous = self.recorder.last_summary
        try:
            response.message = self.stop()
            response.success = True
        except RecorderError as error:
            response.message = str(error)
        summary = self.recorder.last_summary
        if summary is not previous:  # an episode was stopped, whole or not
            if not response.success:
                self.get_logger().error(response.message)
            response.episode_index, response.bag_path = summary.episode_index, str(summary.bag_path)
            response.duration, response.message_count = summary.duration, summary.message_count
            response.dropped = summary.dropped
        self.publish_status()
        return response

    def _on_discard(self, request, response: DiscardEpisode.Response) -> DiscardEpisode.Response:
        try:
            response.episode_index = self.recorder.discard()
            response.success = True
            response.message = f"discarded episode {response.episode_index}"
        except RecorderError as error:
            response.message = str(error)
        self.publish_status()
        return response

    # -- status ----------------------------------------------------------------------------------------------

    def publish_status(self) -> None:
        status = self.recorder.status()
        message = _status_message(status)
        message.header.stamp = self.get_clock().now().to_msg()
        self.status_pub.publish(message)
        if sys.stderr.isatty():
            sys.stderr.write("\r\x1b[2K" + format_progress(status))
            sys.stderr.flush()


def _status_message(status: Status) -> RecorderStatus:
    return RecorderStatus(
        state=int(status.state),
        profile=status.profile,
        episode_index=status.episode_index,
        task=status.task,
        bag_path=status.bag_path,
        elapsed=status.elapsed,
        episodes_saved=status.episodes_saved,
        topics=[
            TopicStatistics(topic=t.topic, received=t.received, dropped=t.dropped, rate=t.rate, age=t.age)
            for t in status.topics
        ],
        message=status.message,
    )


def _options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile", help="mapping name in config/mappings/ or path to a YAML (default so101_sim)"
    )
    parser.add_argument(
        "--output-dir", help=f"folder for the episode bags (default {DEFAULT_OUTPUT}/<profile>)"
    )
    parser.add_argument("--storage", choices=["mcap", "sqlite3"], help="bag storage (default: the mapping's)")
    parser.add_argument(
        "--keyboard", action="store_true", help="control recording with keys in this terminal"
    )


def _spin(node: RecordNode, options: argparse.Namespace) -> None:
    # One thread: rclpy's multi-threaded executor can hand a topic's messages over out of order.
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    quit_requested = threading.Event()

    def handle_key(command: str) -> bool:
        keep_going = node.handle_command(command)
        if not keep_going:
            quit_requested.set()
        return keep_going

    keyboard = options.keyboard and sys.stdin.isatty()
    try:
        with single_keys(sys.stdin) if keyboard else contextlib.nullcontext():
            if keyboard:
                threading.Thread(
                    target=run_keyboard, args=(handle_key, node.recorder.set_task), daemon=True
                ).start()
            while rclpy.ok() and not quit_requested.is_set():
                executor.spin_once(timeout_sec=0.1)
    finally:
        executor.shutdown()


def main(argv: list[str] | None = None) -> int:
    return run_node(
        "lerobot-ros-record",
        RecordNode,
        (MappingError, ValueError),  # ValueError: a parameter out of range (storage, flush_interval)
        argv,
        parameters=PARAMETERS,
        options=_options,
        spin=_spin,
        close=RecordNode.close,
        description=(
            "Record episodes of a mapping's topics into rosbag2 (a bag folder per episode, MCAP by default). "
            "Control it with the services ~/start_episode (task text), ~/stop_episode, ~/discard_episode, or "
            "with keys in this terminal (--keyboard). Options are shortcuts for the node's ROS parameters."
        ),
        error_status=2,  # a mapping that does not load is a usage error
    )
