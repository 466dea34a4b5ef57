"""Train/serve image parity: the same recorded messages, once through a rosbag2 file → converter → dataset →
training loader, once live over DDS → policy node, reach the model as the same tensors.

One message of each camera kind per frame (rgb8, bgr8, mono8, 16UC1 depth, CompressedImage JPEG and PNG, and
an rgb8 camera at twice the trained size), synthetic but not flat: gradients, a moving pattern and noise.
The bag holds the very bytes published over DDS. The tensor the model receives is captured at the model
(ACT's predict_action_chunk): no policy of the suite takes a one-channel image, and the model's arithmetic is
not what is compared, so the capture answers zeros in its place. Lossless paths (depth, state) must be equal
bit for bit. Colour goes through the dataset's video codec (AV1, yuv420p, CRF 30): the training tensor minus
the served one must be exactly the codec's error as it reaches the model (float rounding aside), and that
error is measured here and bounded. Any other difference (channel order, scale, resize) fails.
"""

import io
import itertools
import textwrap
import threading
import time

import numpy as np
import pytest
import torch

rclpy = pytest.importorskip("rclpy", reason="needs the workspace venv (make setup)")
from builtin_interfaces.msg import Time  # noqa: E402
from PIL import Image as PILImage  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.lifecycle import TransitionCallbackReturn  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import qos_profile_sensor_data  # noqa: E402
from rclpy.serialization import serialize_message  # noqa: E402
from rosbags.rosbag2 import Writer  # noqa: E402
from rosbags.typesys import Stores, get_typestore  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image, JointState  # noqa: E402
from std_msgs.msg import Float64MultiArray  # noqa: E402

from lerobot_common.conversions import image_array, image_fields  # noqa: E402
from lerobot_dataset import DatasetReader  # noqa: E402
from lerobot_dataset.images import image_tensor  # noqa: E402
from lerobot_dataset.torch_dataset import LeRobotTorchDataset  # noqa: E402
from lerobot_policy_node.ros.policy_node import PolicyNode  # noqa: E402
from lerobot_recorder.convert import convert_bags  # noqa: E402
from lerobot_training.checkpoint import save_pretrained  # noqa: E402
from lerobot_training.data import LoaderSettings, make_train_loader  # noqa: E402
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors  # noqa: E402
from lerobot_training.policies.act.model import ACTPolicy  # noqa: E402

FPS = 10
FRAMES = 8
HEIGHT, WIDTH = 48, 64  # the trained size of every camera
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
CHUNK = 10
# camera → (message type, encoding or compressed format, recorded height, width)
CAMERAS = {
    "rgb": ("sensor_msgs/msg/Image", "rgb8", HEIGHT, WIDTH),
    "bgr": ("sensor_msgs/msg/Image", "bgr8", HEIGHT, WIDTH),
    "mono": ("sensor_msgs/msg/Image", "mono8", HEIGHT, WIDTH),
    "depth": ("sensor_msgs/msg/Image", "16UC1", HEIGHT, WIDTH),
    "jpeg": ("sensor_msgs/msg/CompressedImage", "jpeg", HEIGHT, WIDTH),
    "png": ("sensor_msgs/msg/CompressedImage", "png", HEIGHT, WIDTH),
    "large": ("sensor_msgs/msg/Image", "rgb8", 2 * HEIGHT, 2 * WIDTH),  # resized to the trained size
}
# Bounds on the video codec's error at the model input ([0, 1] units) over a frame: the largest pixel error
# and the mean. Measured with this content: max 0.06 (mono) to 0.27 (rgb, at the blue pattern's edges:
# yuv420p halves chroma), mean 0.010 (large, averaged by the resize) to 0.022.
VIDEO_MAX_ERROR = 0.35
VIDEO_MEAN_ERROR = 0.03
TYPES = {
    "/parity/joint_states": "sensor_msgs/msg/JointState",
    "/parity/commands": "std_msgs/msg/Float64MultiArray",
    **{f"/parity/{name}": msgtype for name, (msgtype, *_) in CAMERAS.items()},
}
MAPPING = textwrap.dedent(
    f"""
    name: parity
    robot_type: so101
    fps: {FPS}
    task: look at the pattern
    features:
      observation.state: {{topic: /parity/joint_states, type: sensor_msgs/msg/JointState, joints: {JOINTS}}}
      action: {{topic: /parity/commands, type: std_msgs/msg/Float64MultiArray, joints: {JOINTS}}}
    """
) + "".join(
    f"  observation.images.{name}: {{topic: /parity/{name}, type: {msgtype}}}\n"
    for name, (msgtype, *_) in CAMERAS.items()
)


def picture(k: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """RGB uint8: a horizontal red ramp, a vertical green ramp, a blue pattern moving with k, and noise."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    base = np.stack(
        [x * 255 / (width - 1), y * 255 / (height - 1), 128 + 100 * np.sin((x + y) / 6 + k)], axis=-1
    )
    return np.clip(base + rng.normal(0, 3, base.shape), 0, 255).round().astype(np.uint8)


def stamp_ns(k: int) -> int:
    """Frame k's stamp (and its time of receipt in the bag): 100 s + k periods."""
    return (100 * FPS + k) * 10**9 // FPS


def messages(k: int) -> dict[str, object]:
    """Frame k of every topic (rclpy messages), the same whichever way they travel."""
    rng = np.random.default_rng(k)
    stamp = Time(sec=stamp_ns(k) // 10**9, nanosec=stamp_ns(k) % 10**9)
    out: dict[str, object] = {}
    for name, (msgtype, encoding, height, width) in CAMERAS.items():
        rgb = picture(k, height, width, rng)
        if msgtype.endswith("CompressedImage"):
            buffer = io.BytesIO()
            PILImage.fromarray(rgb).save(
                buffer, format=encoding.upper(), **({"quality": 90} if encoding == "jpeg" else {})
            )
            message = CompressedImage(format=encoding, data=buffer.getvalue())
        else:
            if encoding == "bgr8":
                pixels = rgb[..., ::-1]
            elif encoding == "mono8":
                pixels = rgb[..., 1]
            elif encoding == "16UC1":  # millimetres, 0.5-3.6 m, within the 12 bits a depth video keeps
                pixels = (500 + 12 * rgb[..., 0].astype(np.uint16) + rgb[..., 2] // 16).astype(np.uint16)
            else:
                pixels = rgb
            message = Image(**image_fields(pixels, encoding))
        message.header.stamp = stamp
        out[f"/parity/{name}"] = message
    # velocity and effort filled: rosbags cannot read rclpy's bytes of a JointState leaving them empty
    positions = [0.1 * k + 0.01 * j for j in range(len(JOINTS))]
    state = JointState(
        name=JOINTS, position=positions, velocity=[0.0] * len(JOINTS), effort=[0.0] * len(JOINTS)
    )
    state.header.stamp = stamp
    out["/parity/joint_states"] = state
    out["/parity/commands"] = Float64MultiArray(data=[float(k)] * len(JOINTS))
    return out


def write_bag(path, frames: list[dict[str, object]]) -> None:
    """A rosbag2 (MCAP) holding the serialized messages, received at their stamps."""
    store = get_typestore(Stores.LATEST)
    writer = Writer(path, version=8)
    writer.set_custom_data("lerobot.mapping", MAPPING)
    with writer:
        connections = {}
        for k, frame in enumerate(frames):
            for topic, message in frame.items():
                if topic not in connections:
                    connections[topic] = writer.add_connection(topic, TYPES[topic], typestore=store)
                writer.write(connections[topic], stamp_ns(k), serialize_message(message))


def training_batches(root) -> dict[int, dict]:
    """frame index → the training loader's batch of that one frame (the large camera brought to the trained
    size, as a policy trained on it would see it)."""
    dataset = LeRobotTorchDataset(root, image_sizes={"observation.images.large": (HEIGHT, WIDTH)})
    loader = make_train_loader(dataset, [0], 0, None, LoaderSettings(batch_size=1, num_workers=0, seed=0))
    batches = {}
    for batch in itertools.islice(loader, len(dataset)):
        batches[int(batch["frame_index"][0])] = batch
    dataset.reader.close()
    return batches


def make_checkpoint(root, folder):
    """A small random ACT for the dataset's features (the large camera at the trained size), normalizing with
    the dataset's statistics, saved as training saves it; and those statistics."""
    reader = DatasetReader(root)
    features = {key: dict(spec) for key, spec in reader.features.items()}
    stats = reader.stats
    reader.close()
    features["observation.images.large"]["shape"] = [HEIGHT, WIDTH, 3]
    config = make_policy_config(
        "act", pretrained_backbone_weights=None, device="cpu", dim_model=32, n_heads=2, dim_feedforward=64,
        n_encoder_layers=1, n_decoder_layers=1, n_vae_encoder_layers=1, latent_dim=4, chunk_size=CHUNK,
        n_action_steps=CHUNK,
    )  # fmt: skip
    policy = make_policy(config, features)
    return save_pretrained(folder, policy, *make_pre_post_processors(config, stats)), stats


def codec_error(stored: np.ndarray, message) -> torch.Tensor:
    """The video codec's error as it reaches the model: the stored (decoded) image's tensor minus that of the
    image the converter gave the writer (the message as lerobot_common.conversions makes it an array).
    Resizing is linear, so this is also what the codec adds to a resized camera."""
    msgtype = (
        "sensor_msgs/msg/CompressedImage" if isinstance(message, CompressedImage) else "sensor_msgs/msg/Image"
    )
    recorded = image_array(message, msgtype)
    return image_tensor(stored, (HEIGHT, WIDTH)) - image_tensor(recorded, (HEIGHT, WIDTH))


def spin(context, nodes, stop: threading.Event) -> threading.Thread:
    executor = SingleThreadedExecutor(context=context)
    for node in nodes:
        executor.add_node(node)

    def loop() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)
        executor.shutdown()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def wait_until(condition, timeout: float = 20.0) -> bool:
    """For conditions on a node's state, which signals nothing: polled."""
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_training_and_serving_give_the_model_the_same_tensors(ros_context, tmp_path, monkeypatch):
    frames = [messages(k) for k in range(FRAMES)]
    write_bag(tmp_path / "bags" / "episode_000000", frames)
    result = convert_bags([tmp_path / "bags" / "episode_000000"], tmp_path / "dataset", progress=False)
    assert not result.skipped, result.skipped
    trained = training_batches(tmp_path / "dataset")
    assert len(trained) >= FRAMES - 1
    checkpoint, stats = make_checkpoint(tmp_path / "dataset", tmp_path / "act" / "pretrained_model")
    reader = DatasetReader(tmp_path / "dataset")

    received: list[dict[str, torch.Tensor]] = []  # what the model was handed, in call order

    def capture(self, batch):
        received.append({key: value.clone() for key, value in batch.items() if torch.is_tensor(value)})
        return torch.zeros(1, CHUNK, len(JOINTS))

    monkeypatch.setattr(ACTPolicy, "predict_action_chunk", capture)
    (tmp_path / "mapping.yaml").write_text(MAPPING)
    node = PolicyNode(
        context=ros_context,
        parameter_overrides=[
            Parameter("checkpoint", value=str(checkpoint)),
            Parameter("mapping", value=str(tmp_path / "mapping.yaml")),
            Parameter("command_topic", value="/parity/out"),
            Parameter("staleness", value=600.0),  # the test reads the observation when it is ready
        ],
    )
    robot = rclpy.create_node("parity_robot", context=ros_context)
    publishers = {
        topic: robot.create_publisher(
            type(message), topic, qos_profile_sensor_data if "Image" in type(message).__name__ else 10
        )
        for topic, message in frames[0].items()
        if topic != "/parity/commands"
    }
    stop = threading.Event()
    thread = spin(ros_context, [node, robot], stop)
    try:
        assert node.trigger_configure() == TransitionCallbackReturn.SUCCESS, node.holding_reason
        received.clear()  # the warm-up's blank observations
        inputs = list(node.policy.input_features)
        assert wait_until(
            lambda: all(p.get_subscription_count() > 0 for p in publishers.values())
            and all(s.get_publisher_count() > 0 for s in node.subscriptions_)
        )
        codec: dict[str, list[tuple[float, float]]] = {}  # camera → per frame (max, mean) |codec error|
        for k, frame in enumerate(frames):
            for topic, publisher in publishers.items():
                publisher.publish(frame[topic])
            assert wait_until(
                lambda k=k: all(
                    s.received + s.dropped == k + 1 for s in node.observations.statistics(0.0).values()
                )
            ), node.observations.statistics(0.0)
            assert all(s.dropped == 0 for s in node.observations.statistics(0.0).values())
            observation, _ = node.observations.assemble(node.get_clock().now().nanoseconds / 1e9)
            node.policy.predict(observation, np.zeros((0, len(JOINTS)), np.float32), 0)
            if k not in trained:
                continue
            served, expected = received[-1], node.policy.preprocessor(trained[k])
            stored = reader.frame(int(trained[k]["index"][0]))
            for name in inputs:
                assert served[name].shape == expected[name].shape, name
                if name == "observation.state" or name.endswith("depth"):  # lossless on both paths
                    assert torch.equal(served[name], expected[name]), name
                    continue
                error = codec_error(stored[name], frame[f"/parity/{name.rsplit('.', 1)[1]}"])
                # Both were normalized by the same (x − mean) / std: their difference times std is the
                # difference of the images as the training loader and the node made them.
                std = torch.as_tensor(np.asarray(stats[name]["std"]), dtype=torch.float32)
                difference = (expected[name][0] - served[name][0]) * std
                torch.testing.assert_close(difference, error, rtol=0, atol=2e-5, msg=name)
                codec.setdefault(name, []).append((float(error.abs().max()), float(error.abs().mean())))
        assert len(codec) == len(CAMERAS) - 1  # every colour camera compared
        for name, errors in sorted(codec.items()):
            largest, mean = max(e[0] for e in errors), max(e[1] for e in errors)
            print(f"{name}: codec error at the model input: max {largest:.4f}, mean {mean:.4f}")  # pytest -s
            assert largest <= VIDEO_MAX_ERROR and mean <= VIDEO_MEAN_ERROR, name
    finally:
        stop.set()
        thread.join()
        node.destroy_node()
        robot.destroy_node()
        reader.close()
