"""lerobot-ros-serve over real sockets on localhost: openpi's wire format and client, bad input, API key."""

import asyncio
import re
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from websockets.exceptions import ConnectionClosedError, InvalidStatus
from websockets.sync.client import connect

from lerobot_dataset.features import DEFAULT_FEATURES
from lerobot_policy_node.policy import LoadedPolicy
from lerobot_policy_node.remote.client import (
    RECONNECT_PERIOD_S,
    RemotePolicy,
    ServerError,
    ServerUnavailable,
    encode_image,
)
from lerobot_policy_node.remote.process import InferenceProcess, InferenceProcessError
from lerobot_policy_node.remote.served_checkpoint import ServedCheckpoint
from lerobot_policy_node.remote.server import Limits, PolicyServer, ServerThread
from lerobot_policy_node.remote.wire import WireError, pack, unpack
from lerobot_training.checkpoint import save_pretrained
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors

FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [3], "names": None},
    "observation.images.front": {
        "dtype": "video",
        "shape": [16, 20, 3],
        "names": ["height", "width", "channels"],
    },
    "action": {"dtype": "float32", "shape": [3], "names": None},
    **{name: dict(spec) for name, spec in DEFAULT_FEATURES.items()},
}
STATS = {
    "observation.state": {"mean": [0.0] * 3, "std": [1.0] * 3, "min": [-1.0] * 3, "max": [1.0] * 3},
    "action": {"mean": [0.5] * 3, "std": [2.0] * 3, "min": [-1.0] * 3, "max": [1.0] * 3},
    "observation.images.front": {
        "mean": [[[0.5]]] * 3,
        "std": [[[0.25]]] * 3,
        "min": [[[0.0]]] * 3,
        "max": [[[1.0]]] * 3,
    },
}
API_KEY = "s3cret"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    config = make_policy_config(
        "act", pretrained_backbone_weights=None, device="cpu", chunk_size=6, n_action_steps=4, dim_model=32,
        n_heads=2, dim_feedforward=64, n_encoder_layers=1, n_vae_encoder_layers=1, latent_dim=4,
    )  # fmt: skip
    policy = make_policy(config, FEATURES)
    return save_pretrained(
        tmp_path_factory.mktemp("act") / "pm", policy, *make_pre_post_processors(config, STATS)
    )


@pytest.fixture(scope="module")
def server(checkpoint):
    with ServerThread(ServedCheckpoint(checkpoint, threads=1), Limits(max_message_bytes=2**20)) as server:
        yield server


@pytest.fixture(scope="module")
def keyed_server(checkpoint):
    with ServerThread(ServedCheckpoint(checkpoint, threads=1), Limits(api_key=API_KEY)) as server:
        yield server


def observation(seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "observation.state": rng.uniform(-1, 1, 3).astype(np.float32),
        "observation.images.front": rng.integers(0, 256, (16, 20, 3), dtype=np.uint8),
    }


def client(server: PolicyServer, **options):
    return connect(f"ws://127.0.0.1:{server.port}", compression=None, max_size=None, **options)


def ask(connection, message: dict) -> dict | str:
    connection.send(pack(message))
    reply = connection.recv(timeout=60)
    return reply if isinstance(reply, str) else unpack(reply)


def test_wire_format_round_trips_arrays_and_scalars_and_refuses_garbage():
    message = {"a": np.arange(6, dtype="<i2").reshape(2, 3), "s": np.float32(2.5), "t": "pick", "n": [1, 2.0]}
    back = unpack(pack(message))
    assert back["a"].dtype == np.dtype("<i2") and back["a"].tolist() == [[0, 1, 2], [3, 4, 5]]
    assert back["s"] == np.float32(2.5) and back["s"].dtype == np.float32
    assert (back["t"], back["n"]) == ("pick", [1, 2.0])
    odd = [np.array(3.5), np.zeros((0, 3)), np.arange(6, dtype=">f8").reshape(2, 3)[:, ::2], np.array([True])]
    for array in odd:  # 0-d, empty, big-endian and strided, bool: each comes back as it went
        back = unpack(pack({"a": array}))["a"]
        assert (back.dtype, back.shape) == (array.dtype, array.shape) and np.array_equal(back, array)
    with pytest.raises(WireError, match="not valid msgpack"):
        unpack(b"\xc1garbage")
    with pytest.raises(WireError, match="needs 24"):  # a shape that the data does not fill
        unpack(pack({"a": {b"__ndarray__": True, b"data": b"\0" * 8, b"dtype": "<f4", b"shape": [2, 3]}}))
    with pytest.raises(WireError, match="refused"):
        pack({"a": np.array([object()])})


def test_actions_equal_local_inference_for_raw_and_png_images(server, checkpoint):
    local = LoadedPolicy(checkpoint, threads=1)
    local.whole_chunks = True
    with client(server) as connection:
        metadata = unpack(connection.recv(timeout=30))
        assert metadata["policy_type"] == "act" and metadata["action_dim"] == 3
        assert metadata["action_horizon"] == 4 and metadata["supports_rtc"] is False
        assert metadata["input_features"]["observation.images.front"]["shape"] == [3, 16, 20]
        obs = observation(1)
        expected = local.predict(obs, np.zeros((0, 3)), 0)
        reply = ask(connection, {**obs, "task": "pick"})
        assert reply["actions"].shape == (6, 3)  # the whole chunk: the client executes action_horizon
        np.testing.assert_array_equal(reply["actions"], expected.astype(np.float32))
        assert reply["server_timing"]["infer_ms"] > 0 and "prev_total_ms" not in reply["server_timing"]
        ok, png = cv2.imencode(".png", cv2.cvtColor(obs["observation.images.front"], cv2.COLOR_RGB2BGR))
        assert ok
        reply = ask(connection, {**obs, "observation.images.front": png.tobytes()})
        np.testing.assert_array_equal(reply["actions"], expected.astype(np.float32))  # PNG is lossless
        assert reply["server_timing"]["prev_total_ms"] > 0


def test_openpis_own_client_works_unchanged(server, checkpoint):
    from openpi_client.websocket_client_policy import WebsocketClientPolicy

    local = LoadedPolicy(checkpoint, threads=1)
    local.whole_chunks = True
    policy = WebsocketClientPolicy("127.0.0.1", server.port)
    assert policy.get_server_metadata()["server"] == "lerobot-ros-serve"
    obs = observation(2)
    result = policy.infer({**obs, "prompt": "pick"})
    np.testing.assert_array_equal(
        result["actions"], local.predict(obs, np.zeros((0, 3)), 0).astype(np.float32)
    )
    with pytest.raises(RuntimeError, match=r"observation\.state"):  # openpi's client raises on an error frame
        policy.infer({"observation.images.front": obs["observation.images.front"]})


@pytest.mark.parametrize(
    ("request_frame", "named"),
    [
        (pack({"observation.images.front": np.zeros((16, 20, 3), np.uint8)}), "missing feature"),
        (pack({**observation(0), "observation.state": np.zeros(4, np.float32)}), r"expected shape \(3,\)"),
        (pack({**observation(0), "observation.state": np.array([np.nan, 0, 0], np.float32)}), "NaN"),
        (pack({**observation(0), "observation.images.front": np.zeros((32, 20, 3), np.uint8)}), "aspect"),
        (pack({**observation(0), "observation.images.front": np.zeros((16, 20), np.uint8)}), r"H×W×3"),
        (pack({**observation(0), "observation.images.front": b"not a jpeg"}), "not a JPEG or PNG"),
        (pack({**observation(0), "prev_actions": np.zeros((4, 3), np.float32)}), "real-time chunking"),
        (pack([1, 2, 3]), "must be a map"),
        (b"\xc1\xc1", "not valid msgpack"),
        ("hello", "binary msgpack"),
    ],
)
def test_bad_requests_get_an_error_frame_naming_the_problem_and_others_are_still_served(
    server, request_frame, named
):
    with client(server) as bystander, client(server) as offender:
        bystander.recv(timeout=30), offender.recv(timeout=30)
        offender.send(request_frame)
        error = offender.recv(timeout=60)
        assert isinstance(error, str)
        assert re.search(named, error), error
        with pytest.raises(ConnectionClosedError) as closed:
            offender.recv(timeout=30)
        assert closed.value.rcvd.code == 1011
        assert ask(bystander, observation(3))["actions"].shape == (6, 3)


def test_an_oversized_message_is_refused_and_a_client_leaving_mid_request_disturbs_nobody(server):
    with client(server) as connection:
        connection.recv(timeout=30)
        connection.send(pack({"observation.state": np.zeros(2**19, np.float32)}))  # 2 MiB > the 1 MiB limit
        with pytest.raises(ConnectionClosedError) as closed:
            connection.recv(timeout=30)
        assert closed.value.rcvd.code == 1009  # message too big
    for _ in range(3):
        with client(server) as leaver:
            leaver.recv(timeout=30)
            leaver.send(pack(observation(4)))  # and closes before the reply
    with client(server) as connection:
        connection.recv(timeout=30)
        assert ask(connection, observation(5))["actions"].shape == (6, 3)


def test_api_key_and_health(keyed_server):
    with pytest.raises(InvalidStatus) as refused:
        client(keyed_server)
    assert refused.value.response.status_code == 401
    with pytest.raises(InvalidStatus):
        client(keyed_server, additional_headers={"Authorization": "Api-Key wrong"})
    with client(keyed_server, additional_headers={"Authorization": f"Api-Key {API_KEY}"}) as connection:
        connection.recv(timeout=30)
        assert ask(connection, observation(6))["actions"].shape == (6, 3)
    with urllib.request.urlopen(f"http://127.0.0.1:{keyed_server.port}/healthz", timeout=30) as response:
        assert (response.status, response.read()) == (200, b"OK\n")


def test_cli_refuses_a_checkpoint_it_cannot_load_with_a_clear_error(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lerobot_policy_node.serve_cli", "--checkpoint", str(tmp_path / "missing")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "lerobot-ros-serve: error: cannot serve" in result.stderr and "Traceback" not in result.stderr


def test_the_remote_policy_predicts_what_the_local_one_does(server, checkpoint):
    local = LoadedPolicy(checkpoint, threads=1)
    for encoding in ("raw", "png", "jpeg"):
        remote = RemotePolicy(f"ws://127.0.0.1:{server.port}", image_encoding=encoding)
        assert (remote.type, remote.chunk_length, remote.action_dim) == ("act", 4, 3)
        assert remote.input_features == local.input_features and remote.ensemble_coeff is None
        obs = observation(7)
        # what the server sees: the image itself, or (JPEG is lossy) the image the JPEG decodes to
        seen = dict(obs)
        if encoding == "jpeg":
            jpeg = np.frombuffer(encode_image(obs["observation.images.front"], "jpeg"), np.uint8)
            seen["observation.images.front"] = cv2.cvtColor(
                cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
            )
            assert not np.array_equal(seen["observation.images.front"], obs["observation.images.front"])
        expected = local.predict(seen, np.zeros((0, 3)), 0)
        chunk = remote.predict(obs, np.zeros((0, 3)), 0)
        assert chunk.shape == (4, 3)  # chunk_length of them, as the local adapter gives
        np.testing.assert_allclose(chunk, expected, rtol=0, atol=1e-6)
        assert remote.last_round_trip > 0 and remote.last_server_ms > 0
        remote.whole_chunks = True
        assert remote.predict(obs, np.zeros((0, 3)), 0).shape == (6, 3)
        remote.close()


def test_a_lost_server_is_reported_and_a_restarted_one_picked_up(checkpoint):
    policy = ServedCheckpoint(checkpoint, threads=1)
    with ServerThread(policy) as first:
        port = first.port
        remote = RemotePolicy(f"ws://127.0.0.1:{port}", timeout=5)
        assert remote.predict(observation(8), np.zeros((0, 3)), 0).shape == (4, 3)
    with pytest.raises(ServerUnavailable, match=f"127.0.0.1:{port}"):
        remote.predict(observation(8), np.zeros((0, 3)), 0)
    with pytest.raises(ServerUnavailable):  # still down: refused at connect
        remote.predict(observation(8), np.zeros((0, 3)), 0)
    time.sleep(RECONNECT_PERIOD_S)  # a server found away is not asked again sooner
    with ServerThread(policy, port=port):
        assert remote.predict(observation(8), np.zeros((0, 3)), 0).shape == (4, 3)
        with pytest.raises(ServerError, match="expected shape"):  # the server's error text reaches the node
            remote.predict({**observation(8), "observation.state": np.zeros(2)}, np.zeros((0, 3)), 0)
    with pytest.raises(ServerUnavailable, match="unavailable"):
        RemotePolicy("ws://127.0.0.1:1", timeout=2)


def test_a_server_with_openpis_key_names_is_driven_through_a_key_map_and_a_description():
    """openpi's server sends metadata that does not describe the inputs, and names them its own way; this one
    packs with openpi_client's own msgpack code and answers as openpi's policies do."""
    from openpi_client import msgpack_numpy
    from websockets.asyncio.server import serve

    seen = []

    async def openpi_like(connection):
        await connection.send(msgpack_numpy.packb({"model": "pi0_fast_droid"}))
        async for frame in connection:
            obs = msgpack_numpy.unpackb(frame)
            seen.append(obs)
            state = obs["observation/joint_position"]
            await connection.send(msgpack_numpy.packb({"actions": np.tile(state + 1, (10, 1))}))

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def start():
        return await serve(openpi_like, "127.0.0.1", 0, compression=None, max_size=None)

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        uri = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        with pytest.raises(ServerError, match="remote_description"):
            RemotePolicy(uri)
        description = {
            "input_features": {
                "observation.state": {"type": "STATE", "shape": [3]},
                "observation.images.front": {"type": "VISUAL", "shape": [3, 16, 20]},
            },
            "action_dim": 3,
            "action_horizon": 8,
        }
        key_map = {
            "observation.state": "observation/joint_position",
            "observation.images.front": "observation/exterior_image_1_left",
            "task": "prompt",
        }
        remote = RemotePolicy(uri, key_map=key_map, description=description)
        remote.task = "pick up the cube"
        obs = observation(9)
        chunk = remote.predict(obs, np.zeros((0, 3)), 0)
        assert chunk.shape == (8, 3)  # action_horizon of the 10 sent
        np.testing.assert_allclose(chunk[0], obs["observation.state"] + 1, rtol=1e-6)
        sent = seen[-1]
        assert sorted(sent) == ["observation/exterior_image_1_left", "observation/joint_position", "prompt"]
        assert sent["prompt"] == "pick up the cube"
        np.testing.assert_array_equal(
            sent["observation/exterior_image_1_left"], obs["observation.images.front"]
        )
        remote.close()
    finally:
        server.close()
        asyncio.run_coroutine_threadsafe(server.wait_closed(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)


def gone(pid: int) -> bool:
    """Whether process ``pid`` has exited (a zombie not yet reaped counts as exited)."""
    try:
        return Path(f"/proc/{pid}/status").read_text().split("State:")[1].split()[0] in ("Z", "X")
    except (FileNotFoundError, IndexError):
        return True


def test_the_inference_process_serves_on_a_unix_socket_and_dies_with_its_parent(checkpoint, tmp_path):
    local = LoadedPolicy(checkpoint, threads=1)
    process = InferenceProcess(str(checkpoint), threads=1)
    try:
        remote = RemotePolicy(process.address)
        obs = observation(10)
        np.testing.assert_allclose(
            remote.predict(obs, np.zeros((0, 3)), 0), local.predict(obs, np.zeros((0, 3)), 0)
        )
        remote.close()
    finally:
        process.close()
    assert gone(process.process.pid) and not process.folder.exists()
    with pytest.raises(InferenceProcessError, match="missing"):  # its own error, from its log
        InferenceProcess(str(tmp_path / "missing"), threads=1)
    # A policy node killed outright (SIGKILL: no cleanup runs) leaves no inference process behind.
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(checkpoint)], stdout=subprocess.PIPE, text=True
    )
    try:
        child = int(parent.stdout.readline())
        assert not gone(child)
    finally:
        parent.kill()
        parent.wait()
    deadline = time.monotonic() + 30
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone(child), "the inference process outlived its killed parent"


PARENT = """
import sys, time
from lerobot_policy_node.remote.process import InferenceProcess
process = InferenceProcess(sys.argv[1], threads=1)
print(process.process.pid, flush=True)
time.sleep(600)
"""


def test_a_tiny_pi0_is_served_with_its_task_and_real_time_chunking(tiny_pi0):
    local = LoadedPolicy(tiny_pi0, threads=1)
    local.task = "move the arm"
    with ServerThread(ServedCheckpoint(tiny_pi0, threads=1)) as server:
        remote = RemotePolicy(f"ws://127.0.0.1:{server.port}")
        assert (remote.type, remote.supports_rtc, remote.chunk_length, remote.action_dim) == (
            "pi0",
            True,
            8,
            2,
        )
        remote.task = "move the arm"
        obs = {
            "observation.state": np.array([0.3, -0.2], np.float32),
            "observation.images.front": np.full((16, 16, 3), 128, np.uint8),
        }
        # the same noise both ways (one process, torch's global generator): the same chunk
        torch.manual_seed(0)
        first = remote.predict(obs, np.zeros((0, 2)), 0)
        torch.manual_seed(0)
        np.testing.assert_allclose(first, local.predict(obs, np.zeros((0, 2)), 0), atol=1e-5)
        pending = first[2:]  # real-time chunking: the next chunk continues the queue's first `delay` actions
        chunk = remote.predict(obs, pending, 3)
        assert chunk.shape == (8, 2) and np.isfinite(chunk).all()
        np.testing.assert_allclose(chunk[:3], pending[:3], atol=1e-5)
        remote.task = "another task"  # the text reaches the model: another prompt, another chunk
        torch.manual_seed(0)
        assert not np.allclose(remote.predict(obs, np.zeros((0, 2)), 0), first, atol=1e-5)
        remote.close()
