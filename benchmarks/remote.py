"""Remote inference overhead on localhost: what the network path adds to a chunk (figures only, no asserts).

A tiny ACT checkpoint (6-dim state, 1 or 2 cameras at 480×640) is served by lerobot-ros-serve's server; the
policy node's client (RemotePolicy) sends observations with images raw, JPEG or PNG. Overhead = round trip
minus the server's own inference time (encoding, msgpack, websocket, decoding, checks). The baseline, in the
same process: a bare websocket echo of a message of the same size (the transport's floor).

    python benchmarks/remote.py [--requests 100]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import torch
from websockets.asyncio.server import serve
from websockets.sync.client import connect

from lerobot_dataset.features import DEFAULT_FEATURES
from lerobot_policy_node.remote.client import RemotePolicy
from lerobot_policy_node.remote.served_checkpoint import ServedCheckpoint
from lerobot_policy_node.remote.server import PolicyServer
from lerobot_policy_node.remote.wire import pack
from lerobot_training.checkpoint import save_pretrained
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors

HEIGHT, WIDTH = 480, 640


def checkpoint(folder: Path, cameras: int) -> Path:
    features = {
        "observation.state": {"dtype": "float32", "shape": [6], "names": None},
        "action": {"dtype": "float32", "shape": [6], "names": None},
        **{name: dict(spec) for name, spec in DEFAULT_FEATURES.items()},
    }
    stats = {key: {"mean": [0.0] * 6, "std": [1.0] * 6} for key in ("observation.state", "action")}
    for index in range(cameras):
        name = f"observation.images.cam{index}"
        names = ["height", "width", "channels"]
        features[name] = {"dtype": "video", "shape": [HEIGHT, WIDTH, 3], "names": names}
        stats[name] = {"mean": [[[0.5]]] * 3, "std": [[[0.25]]] * 3}
    config = make_policy_config(
        "act", pretrained_backbone_weights=None, device="cpu", dim_model=64, n_heads=2, dim_feedforward=128,
        n_encoder_layers=1, n_decoder_layers=1, n_vae_encoder_layers=1,
    )  # fmt: skip
    policy = make_policy(config, features)
    return save_pretrained(folder / f"cams{cameras}", policy, *make_pre_post_processors(config, stats))


class Loop:
    """An asyncio loop on a thread of its own, for the servers."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()


def percentiles(values: list[float]) -> str:
    p50, p99 = np.percentile(np.asarray(values) * 1e3, [50, 99])
    return f"p50 {p50:6.2f} ms  p99 {p99:6.2f} ms"


def echo_round_trips(loop: Loop, size: int, requests: int) -> list[float]:
    """Round trips of a ``size``-byte binary message through a websocket server that answers 100 bytes."""

    async def answer(connection) -> None:
        async for _ in connection:
            await connection.send(b"\0" * 100)

    async def start():
        return await serve(answer, "127.0.0.1", 0, compression=None, max_size=None)

    server = loop.run(start())
    port = server.sockets[0].getsockname()[1]
    payload = b"\1" * size
    times = []
    with connect(f"ws://127.0.0.1:{port}", compression=None, max_size=None) as connection:
        for _ in range(requests + 5):
            started = time.perf_counter()
            connection.send(payload)
            connection.recv()
            times.append(time.perf_counter() - started)
    server.close()
    loop.run(server.wait_closed())
    return times[5:]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=100, help="timed requests per configuration")
    args = parser.parse_args()
    torch.manual_seed(0)
    loop = Loop()
    rng = np.random.default_rng(0)
    print(f"localhost, {args.requests} requests each; state (6,), cameras {HEIGHT}×{WIDTH} RGB")
    with tempfile.TemporaryDirectory() as folder:
        for cameras in (1, 2):
            served = ServedCheckpoint(checkpoint(Path(folder), cameras), threads=1)
            server = PolicyServer(served)
            loop.run(server.start("127.0.0.1", 0))
            # Smooth images with sensor noise: JPEG/PNG sizes close to a real camera's, not random bytes'.
            base = np.indices((HEIGHT, WIDTH)).sum(axis=0) % 256
            observation = {"observation.state": np.zeros(6, np.float32)}
            for index in range(cameras):
                noise = rng.integers(0, 8, (HEIGHT, WIDTH, 3))
                image = ((base[..., None] + noise) % 256).astype(np.uint8)
                observation[f"observation.images.cam{index}"] = image
            raw_size = len(pack(observation))
            echo = echo_round_trips(loop, raw_size, args.requests)
            print(f"\n{cameras} camera(s): raw message {raw_size / 1e6:.2f} MB")
            print(f"  baseline: bare websocket echo       {percentiles(echo)}")
            for encoding in ("raw", "jpeg", "png"):
                remote = RemotePolicy(f"ws://127.0.0.1:{server.port}", image_encoding=encoding)
                overheads, sizes = [], []
                for request in range(args.requests + 5):
                    remote.predict(observation, np.zeros((0, 6)), 0)
                    if request >= 5:
                        overheads.append(remote.last_round_trip - remote.last_server_ms / 1e3)
                sizes.append(len(pack(remote.request(observation, np.zeros((0, 6)), 0))))
                remote.close()
                ratio = np.median(overheads) / np.median(echo)
                print(
                    f"  {encoding:<4} overhead beyond inference   {percentiles(overheads)}  "
                    f"message {sizes[0] / 1e6:5.2f} MB  ({ratio:4.1f}× the echo's median)"
                )
            loop.run(server.stop())


if __name__ == "__main__":
    main()
