"""Bag → dataset conversion speed, and the record node's drops under the same camera load.

1. Writes a synthetic episode bag: two 640×480 rgb8 cameras at 30 Hz and joint states at 100 Hz.
2. Baseline: the bare PyAV encode of the same camera frames (one thread per camera, frames in memory,
   the dataset's encoder settings), measured in this run.
3. Converts the bag with lerobot_recorder.convert (read, align, decode, encode, Parquet, stats).
4. With --workers N: converts --bags episode bags in one process, then with N worker processes, and prints
   the speed-up of the workers over the one process, both measured in this run.
5. Runs the record node on a live publisher process with the same load, then with 3 cameras, and counts every
   drop; beside it, in the same process, a bare subscriber that only counts (the anchor): frames the anchor
   misses too were lost before they reached the recorder. Both processes use the environment's Fast DDS
   transports (the venv sets the suite's: LARGE_DATA with a 16 MiB shared-memory segment); with Fast DDS's
   default segment (512 KiB, `FASTDDS_BUILTIN_TRANSPORTS=LARGE_DATA`) the publisher itself drops most frames,
   whoever subscribes.

Prints the real-time factor and the ratio to the baseline (goal ≥ 0.8×) and the drop count (goal 0).
Usage: python benchmarks/convert.py [--seconds 60] [--record-seconds 20] [--codec av1|h264]
                                    [--workers N --bags 4 --bag-seconds 10]
       (--seconds 0 skips the conversion, --record-seconds 0 the record test)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from pathlib import Path

import av
import numpy as np
from rosbags.rosbag2 import Writer
from rosbags.rosbag2.enums import StoragePlugin
from rosbags.typesys import Stores, get_typestore

from lerobot_dataset import VideoEncoderConfig
from lerobot_dataset.mapping import parse_mapping
from lerobot_recorder.convert import convert_bags

FPS, WIDTH, HEIGHT = 30, 640, 480
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
MAPPING = textwrap.dedent(
    f"""
    name: benchmark
    robot_type: so101
    fps: {FPS}
    task: Benchmark.
    features:
      observation.state: {{topic: /joint_states, type: sensor_msgs/msg/JointState, joints: {JOINTS}}}
      action: {{topic: /leader/joint_states, type: sensor_msgs/msg/JointState, joints: {JOINTS}}}
      observation.images.front: {{topic: /front/image_raw, type: sensor_msgs/msg/Image}}
      observation.images.wrist: {{topic: /wrist/image_raw, type: sensor_msgs/msg/Image}}
    """
)


def camera_frames(count: int, seed: int) -> list[np.ndarray]:
    """A bank of textured frames with a moving square (cycled through; encoders see real motion)."""
    rng = np.random.default_rng(seed)
    texture = (rng.random((HEIGHT // 8, WIDTH // 8, 3)) * 255).astype(np.uint8).repeat(8, 0).repeat(8, 1)
    frames = []
    for k in range(count):
        frame = texture.copy()
        x, y = (k * 9) % (WIDTH - 80), (k * 5) % (HEIGHT - 80)
        frame[y : y + 80, x : x + 80] = (255, 64, 0)
        frames.append(frame)
    return frames


def write_bag(path: Path, seconds: float, banks: dict[str, list[np.ndarray]]) -> None:
    store = get_typestore(Stores.LATEST)
    types = store.types
    time_msg, header_msg = types["builtin_interfaces/msg/Time"], types["std_msgs/msg/Header"]
    empty = np.zeros(0)

    def header(ns: int):
        return header_msg(stamp=time_msg(sec=ns // 10**9, nanosec=ns % 10**9), frame_id="")

    writer = Writer(path, version=8, storage_plugin=StoragePlugin.MCAP)
    writer.set_custom_data("lerobot.mapping", MAPPING)
    with writer:
        connections = {
            topic: writer.add_connection(topic, msgtype, typestore=store)
            for topic, msgtype in [
                ("/joint_states", "sensor_msgs/msg/JointState"),
                ("/leader/joint_states", "sensor_msgs/msg/JointState"),
                ("/front/image_raw", "sensor_msgs/msg/Image"),
                ("/wrist/image_raw", "sensor_msgs/msg/Image"),
            ]
        }
        base, k = 10**12, 0
        for i in range(int(seconds * 100)):
            stamp = base + i * 10**7
            while base + k * 10**9 // FPS <= stamp:  # the camera frames due by now
                frame_stamp = base + k * 10**9 // FPS
                for camera, bank in banks.items():
                    msg = types["sensor_msgs/msg/Image"](
                        header=header(frame_stamp), height=HEIGHT, width=WIDTH, encoding="rgb8",
                        is_bigendian=0, step=WIDTH * 3, data=bank[k % len(bank)].reshape(-1),
                    )  # fmt: skip
                    data = store.serialize_cdr(msg, msg.__msgtype__)
                    writer.write(connections[f"/{camera}/image_raw"], frame_stamp + 2 * 10**6, data)
                k += 1
            for topic in ("/joint_states", "/leader/joint_states"):
                msg = types["sensor_msgs/msg/JointState"](
                    header=header(stamp), name=JOINTS, position=np.sin(np.arange(6) + i / 100),
                    velocity=empty, effort=empty,
                )  # fmt: skip
                writer.write(connections[topic], stamp + 10**6, store.serialize_cdr(msg, msg.__msgtype__))


def bare_encode(
    folder: Path, frames: int, banks: dict[str, list[np.ndarray]], config: VideoEncoderConfig
) -> float:
    """Seconds to encode every camera's frames with PyAV alone, one thread per camera."""

    def encode(camera: str, bank: list[np.ndarray]) -> None:
        with av.open(str(folder / f"{camera}.mp4"), "w") as container:
            stream = container.add_stream(config.encoder, rate=FPS, options=config.options())
            stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, config.pix_fmt
            for k in range(frames):
                for packet in stream.encode(av.VideoFrame.from_ndarray(bank[k % len(bank)], format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)

    threads = [threading.Thread(target=encode, args=item) for item in banks.items()]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start


PUBLISHER = textwrap.dedent(
    """
    import sys, numpy as np, rclpy
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image, JointState
    rclpy.init()
    node = rclpy.create_node("benchmark_robot")
    joints = [node.create_publisher(JointState, t, 100) for t in ("/joint_states", "/leader/joint_states")]
    cameras = [node.create_publisher(Image, f"/{c}/image_raw", qos_profile_sensor_data) for c in sys.argv[1:]]
    data = np.random.default_rng(0).integers(0, 255, 640 * 480 * 3, dtype=np.uint8).tobytes()
    names = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
    def tick_joints():
        msg = JointState(name=names, position=[0.0] * 6)
        msg.header.stamp = node.get_clock().now().to_msg()
        for p in joints: p.publish(msg)
    def tick_cameras():
        msg = Image(height=480, width=640, encoding="rgb8", step=1920, data=data)
        msg.header.stamp = node.get_clock().now().to_msg()
        for p in cameras: p.publish(msg)
    node.create_timer(0.01, tick_joints)
    node.create_timer(1 / 30, tick_cameras)
    rclpy.spin(node)
    """
)
CAMERAS = ("front", "wrist", "side")


def record_mapping(cameras: tuple[str, ...]) -> str:
    images = "".join(
        f"  observation.images.{c}: {{topic: /{c}/image_raw, type: sensor_msgs/msg/Image}}\n" for c in cameras
    )
    return MAPPING.split("  observation.images.")[0] + images


def record_drops(folder: Path, seconds: float, cameras: tuple[str, ...]) -> None:
    import rclpy
    from rclpy.event_handler import SubscriptionEventCallbacks
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.parameter import Parameter
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image

    from lerobot_recorder.ros.record_node import RecordNode

    mapping_file = folder / "benchmark.yaml"
    mapping_file.write_text(record_mapping(cameras))
    publisher = subprocess.Popen([sys.executable, "-c", PUBLISHER, *cameras])
    rclpy.init()
    node = RecordNode(
        parameter_overrides=[
            Parameter("profile", value=str(mapping_file)),
            Parameter("output_dir", value=str(folder / f"recorded-{len(cameras)}")),
        ]
    )
    anchor = rclpy.create_node("anchor")
    counts = {c: [0, 0] for c in cameras}  # received, lost: counted from the episode's start
    counting = [False]

    def count(camera: str, index: int, n: int) -> None:
        if counting[0]:
            counts[camera][index] += n

    for c in cameras:
        anchor.create_subscription(
            Image, f"/{c}/image_raw", lambda _, c=c: count(c, 0, 1), qos_profile_sensor_data, raw=True,
            event_callbacks=SubscriptionEventCallbacks(
                message_lost=lambda info, c=c: count(c, 1, info.total_count_change)
            ),
        )  # fmt: skip
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    executor.add_node(anchor)
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not all(
            node.count_publishers(t) for t in ["/joint_states"] + [f"/{c}/image_raw" for c in cameras]
        ):
            executor.spin_once(timeout_sec=0.05)
        end = time.monotonic() + 1.0
        while time.monotonic() < end:  # let the subscriptions match
            executor.spin_once(timeout_sec=0.05)
        node.start()
        counting[0] = True
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
        status = node.recorder.status()
        counting[0] = False
        summary = node.recorder.stop()
    finally:
        publisher.kill()
        executor.shutdown()
        node.destroy_node()
        anchor.destroy_node()
        rclpy.try_shutdown()
    transports = os.environ.get("FASTDDS_BUILTIN_TRANSPORTS", "Fast DDS's default")
    print(
        f"\nrecord node, {seconds:.0f} s of {len(cameras)} × 640×480 rgb8 at 30 Hz + 2 × joints at 100 Hz "
        f"(FASTDDS_BUILTIN_TRANSPORTS={transports}; load average {os.getloadavg()[0]:.2f}):"
    )
    for topic in status.topics:
        expected = 30 if "image" in topic.topic else 100
        published = f"~{expected * seconds:.0f} published"
        line = f"  {topic.topic:24} received {topic.received:6d} ({published})  dropped {topic.dropped:4d}"
        camera = topic.topic.split("/")[1]
        if camera in counts:
            line += f"   anchor: received {counts[camera][0]:6d}, lost {counts[camera][1]:4d}"
        print(line)
    print(f"  bag: {summary.message_count} messages written, {summary.dropped} dropped (goal: 0)")


def parallel_speedup(
    folder: Path, banks: dict[str, list[np.ndarray]], config: VideoEncoderConfig, args: argparse.Namespace
) -> None:
    """The same bags converted by one process, then by ``args.workers`` worker processes."""
    bags = folder / "bags"
    write_bag(bags / "episode_000000", args.bag_seconds, banks)
    for i in range(1, args.bags):  # identical episodes: each worker has the same work
        shutil.copytree(bags / "episode_000000", bags / f"episode_{i:06d}")
    seconds = {}
    for workers in (1, args.workers):
        start = time.perf_counter()
        result = convert_bags(
            [bags], folder / f"dataset-{workers}", mapping=parse_mapping(MAPPING), video=config,
            progress=False, workers=workers,
        )  # fmt: skip
        seconds[workers] = time.perf_counter() - start
        assert not result.skipped and len(result.reports) == args.bags, result.skipped
        frames = sum(r.frames for r in result.reports)
        print(
            f"{args.bags} bags × {args.bag_seconds:.0f} s, {workers} worker(s): {seconds[workers]:6.1f} s = "
            f"{2 * frames / seconds[workers]:6.1f} frames/s"
        )
    print(
        f"speed-up of {args.workers} workers over 1 process: {seconds[1] / seconds[args.workers]:.2f}× "
        f"({os.cpu_count()} CPUs on this machine)"
    )


def conversion_speed(
    folder: Path, banks: dict[str, list[np.ndarray]], config: VideoEncoderConfig, seconds: float
) -> None:
    """Writes a ``seconds`` bag, then times the bare encode and the conversion of it."""
    frames = int(seconds * FPS)
    print(f"writing a {seconds:.0f} s bag ({frames} frames per camera) ...", flush=True)
    write_bag(folder / "bag", seconds, banks)
    size_gb = sum(f.stat().st_size for f in (folder / "bag").iterdir()) / 1e9
    print(f"bag: {size_gb:.2f} GB")

    baseline = bare_encode(folder, frames, banks, config)
    rate = 2 * frames / baseline
    print(f"bare PyAV encode ({config.encoder}, 2 threads): {baseline:6.1f} s = {rate:6.1f} frames/s")

    start = time.perf_counter()
    result = convert_bags([folder / "bag"], folder / "dataset", mapping=parse_mapping(MAPPING), video=config)
    ours = time.perf_counter() - start
    assert not result.skipped, result.skipped
    kept = result.reports[0].frames
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rate = 2 * kept / ours
    print(f"conversion (bag → dataset):         {ours:6.1f} s = {rate:6.1f} frames/s, {kept} frames kept")
    print(f"real-time factor: {seconds / ours:.2f}× (episode seconds per conversion second)")
    print(f"ratio to the bare encode: {baseline / ours:.2f}× (goal ≥ 0.8×); peak RSS {peak_gb:.2f} GiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="episode length of the synthetic bag")
    parser.add_argument("--record-seconds", type=float, default=20.0, help="record node load test (0: skip)")
    parser.add_argument("--codec", choices=["av1", "h264"], default="av1")
    parser.add_argument("--workers", type=int, default=0, help="compare N worker processes with 1 (0: skip)")
    parser.add_argument("--bags", type=int, default=4, help="episode bags for the workers comparison")
    parser.add_argument("--bag-seconds", type=float, default=10.0, help="episode length of those bags")
    args = parser.parse_args()
    config = VideoEncoderConfig.h264() if args.codec == "h264" else VideoEncoderConfig()
    folder = Path(tempfile.mkdtemp(prefix="lerobot-ros-convert-bench-"))
    try:
        banks = {"front": camera_frames(90, 0), "wrist": camera_frames(90, 1)}
        if args.seconds > 0:
            conversion_speed(folder, banks, config, args.seconds)
        if args.workers > 1:
            parallel_speedup(folder, banks, config, args)
        if args.record_seconds > 0:
            for cameras in (CAMERAS[:2], CAMERAS):
                record_drops(folder, args.record_seconds, cameras)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
