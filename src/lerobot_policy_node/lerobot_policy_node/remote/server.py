"""A policy served over openpi's websocket protocol (shared/specs/remote-inference-protocol.md).

On connect the server sends its metadata; then each binary frame from the client is an observation and
the reply is ``{"actions": steps × action_dim, "server_timing": {...}}``. Observations use the checkpoint's
feature names in the dataset's units: ``observation.state`` (vector), ``observation.images.<camera>`` (H×W×C,
colour uint8 and depth uint16, or the bytes of a JPEG/PNG), ``task`` or ``prompt`` (text). Real-time
chunking takes ``prev_actions`` (the queued actions, dataset units) and ``inference_delay``. A request the
server cannot serve is answered with a text frame saying why, then the connection closes (code 1011), as
openpi's server does; other clients are not disturbed. One model serves every client: inference runs on one
worker thread, in arrival order.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Protocol

import cv2
import numpy as np
from websockets.asyncio.server import Server, ServerConnection, serve, unix_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from lerobot_dataset.images import ImageFormatError, ImageSizeError, check_image
from lerobot_policy_node.remote.wire import WireError, pack, unpack

LOG = logging.getLogger("lerobot-ros-serve")
HEALTH_PATH = "/healthz"
# openpi-style names a client may use for the text instruction.
TEXT_KEYS = ("task", "prompt")


class RequestError(ValueError):
    """An observation the policy cannot take; the text, sent back to the client, says what to change."""


class ServedPolicy(Protocol):
    """What the server needs of a loaded checkpoint (lerobot_policy_node.policy.LoadedPolicy has it)."""

    type: str
    checkpoint: str
    input_features: dict[str, dict[str, Any]]
    output_features: dict[str, dict[str, Any]]
    action_dim: int
    chunk_length: int
    supports_rtc: bool
    n_obs_steps: int
    temporal_ensemble_coeff: float | None
    mapping: str | None  # the observation mapping stored with the checkpoint (YAML), checked by the node
    task: str  # the default instruction, for requests without one

    def infer(
        self, frames: list[dict[str, np.ndarray]], task: str, pending: np.ndarray, delay: int
    ) -> np.ndarray:
        """The whole chunk (steps × action_dim, dataset units) for ``frames`` (oldest first)."""


@dataclass
class Limits:
    max_message_bytes: int = 64 * 2**20  # 2 raw 480×640 RGB frames are 1.8 MB; a bigger frame is refused
    api_key: str | None = None


def metadata(policy: ServedPolicy) -> dict[str, Any]:
    """The dict sent first on every connection: what to send and what comes back."""
    return {
        "server": "lerobot-ros-serve",
        "policy_type": policy.type,
        "checkpoint": policy.checkpoint,
        "input_features": policy.input_features,
        "output_features": policy.output_features,
        "action_dim": policy.action_dim,
        "action_horizon": policy.chunk_length,  # openpi's name for the actions to execute per chunk
        "supports_rtc": policy.supports_rtc,
        "n_obs_steps": policy.n_obs_steps,
        "temporal_ensemble_coeff": policy.temporal_ensemble_coeff,
        "mapping": policy.mapping,
    }


def _image(name: str, value: Any, shape: list[int]) -> np.ndarray:
    channels = shape[0]
    if isinstance(value, bytes):  # JPEG or PNG
        decoded = cv2.imdecode(np.frombuffer(value, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is None:
            raise RequestError(f"{name}: the bytes are not a JPEG or PNG image")
        if decoded.ndim == 3:
            decoded = cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB)
        value = decoded
    if not isinstance(value, np.ndarray):
        raise RequestError(
            f"{name}: expected an H×W×C array (colour uint8, depth uint16) or JPEG/PNG bytes, "
            f"got {type(value).__name__}"
        )
    if value.ndim == 2 and channels == 1:
        value = value[..., None]
    try:  # another size of the trained aspect ratio is resized by the policy, as in the policy node
        check_image(name, value, shape)
    except (ImageFormatError, ImageSizeError) as error:
        raise RequestError(str(error)) from None
    return value if value.flags.writeable else value.copy()  # views of the frame are read-only


def _vector(name: str, value: Any, shape: list[int]) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "fiu":
        raise RequestError(
            f"{name}: expected a numeric array of shape {tuple(shape)}, got {type(value).__name__}"
        )
    if value.shape != tuple(shape):
        raise RequestError(f"{name}: expected shape {tuple(shape)}, got {value.shape}")
    if not np.isfinite(value).all():
        raise RequestError(f"{name}: holds NaN or Inf; the server never acts on a non-finite observation")
    return value.astype(np.float32)


def parse_observation(policy: ServedPolicy, message: Any) -> tuple[list[dict[str, np.ndarray]], str]:
    """A request → the frames the policy sees (oldest first; one unless the client sends a stack of
    n_obs_steps along a leading axis) and the task text. Raises RequestError naming what is wrong."""
    if not isinstance(message, dict):
        raise RequestError(f"a request must be a map of feature name → value, got {type(message).__name__}")
    missing = [name for name in policy.input_features if name not in message]
    if missing:
        raise RequestError(
            f"missing feature(s) {missing}; this policy takes {sorted(policy.input_features)} "
            f"(+ optional {' / '.join(TEXT_KEYS)}, prev_actions, inference_delay)"
        )
    steps = policy.n_obs_steps
    frames: list[dict[str, np.ndarray]] = [{} for _ in range(steps)]
    for name, feature in policy.input_features.items():
        visual = feature["type"] == "VISUAL"
        value = message[name]
        stacked = isinstance(value, list) or (
            isinstance(value, np.ndarray) and value.ndim == len(feature["shape"]) + 1 and steps > 1
        )
        values = list(value) if stacked else [value]
        if len(values) > steps:
            raise RequestError(f"{name}: {len(values)} frames sent, the policy looks at {steps}")
        values = [values[0]] * (steps - len(values)) + values  # the oldest repeated, as the local node does
        check = _image if visual else _vector
        for frame, item in zip(frames, values, strict=True):
            frame[name] = check(name, item, feature["shape"])
    text = next((message[key] for key in TEXT_KEYS if key in message), policy.task)
    if not isinstance(text, str):
        raise RequestError(f"the task text must be a string, got {type(text).__name__}")
    return frames, text


def parse_rtc(policy: ServedPolicy, message: dict) -> tuple[np.ndarray, int]:
    """The queued actions and the inference delay of a real-time-chunking request (none: plain sampling)."""
    pending = message.get("prev_actions")
    if pending is None:
        return np.zeros((0, policy.action_dim), np.float32), 0
    if not policy.supports_rtc:
        raise RequestError(
            f"prev_actions sent, but this {policy.type} checkpoint does not do real-time chunking"
        )
    if not isinstance(pending, np.ndarray) or pending.ndim != 2:
        raise RequestError(f"prev_actions: expected an array of shape (steps, {policy.action_dim})")
    pending = _vector("prev_actions", pending, [len(pending), policy.action_dim])
    delay = message.get("inference_delay", 0)
    if not isinstance(delay, int | np.integer) or not 0 <= delay <= len(pending):
        raise RequestError(f"inference_delay must be an integer in [0, {len(pending)}], got {delay!r}")
    return pending, int(delay)


class PolicyServer:
    """Serves ``policy`` to any number of clients; ``await start(host, port)`` then ``await stop()``."""

    def __init__(self, policy: ServedPolicy, limits: Limits | None = None) -> None:
        self.policy = policy
        self.limits = limits or Limits()
        self._metadata = pack(metadata(policy))
        self._inference = ThreadPoolExecutor(max_workers=1, thread_name_prefix="inference")
        self._server: Server | None = None

    @property
    def port(self) -> int:
        assert self._server is not None, "start() the server first"
        return self._server.sockets[0].getsockname()[1]

    async def start(self, host: str = "0.0.0.0", port: int = 8000, unix_path: str | None = None) -> None:
        """Listen on ``host:port``, or on the Unix socket ``unix_path`` (a client on the same machine)."""
        options = dict(process_request=self._http, compression=None, max_size=self.limits.max_message_bytes)
        if unix_path:
            self._server = await unix_serve(self._serve_client, unix_path, **options)
        else:
            self._server = await serve(self._serve_client, host, port, **options)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._inference.shutdown(wait=True)

    def _http(self, connection: ServerConnection, request: Request) -> Response | None:
        """/healthz and the API key, before any websocket upgrade."""
        if request.path == HEALTH_PATH:
            return connection.respond(HTTPStatus.OK, "OK\n")
        key = self.limits.api_key
        if key is not None:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Api-Key {key}".encode()):
                LOG.warning("refused %s: wrong or missing API key", connection.remote_address)
                return connection.respond(HTTPStatus.UNAUTHORIZED, "wrong or missing API key\n")
        return None

    async def _serve_client(self, connection: ServerConnection) -> None:
        peer = connection.remote_address
        LOG.info("client %s connected", peer)
        previous_total_ms: float | None = None
        try:
            await connection.send(self._metadata)
            async for frame in connection:
                started = time.perf_counter()
                try:
                    reply = await self._answer(frame)
                except (RequestError, WireError) as error:
                    LOG.warning("client %s: %s", peer, error)
                    await connection.send(f"error: {error}")
                    await connection.close(1011, str(error)[:120])
                    return
                timing = {"infer_ms": reply.pop("infer_ms")}
                if previous_total_ms is not None:
                    timing["prev_total_ms"] = previous_total_ms
                reply["server_timing"] = timing
                await connection.send(pack(reply))
                previous_total_ms = (time.perf_counter() - started) * 1000
        except ConnectionClosed:
            pass  # the client went away, possibly mid-request: nothing to answer
        LOG.info("client %s disconnected", peer)

    async def _answer(self, frame: str | bytes) -> dict[str, Any]:
        if isinstance(frame, str):
            raise RequestError("requests are binary msgpack frames, got a text frame")
        message = unpack(frame)
        frames, text = parse_observation(self.policy, message)
        pending, delay = parse_rtc(self.policy, message)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._inference, self._infer, frames, text, pending, delay)

    def _infer(self, frames: list[dict[str, np.ndarray]], text: str, pending: np.ndarray, delay: int) -> dict:
        started = time.perf_counter()
        actions = np.asarray(self.policy.infer(frames, text, pending, delay), np.float32)
        return {"actions": actions, "infer_ms": (time.perf_counter() - started) * 1000}


class ServerThread:
    """A PolicyServer on an event loop thread of its own, for the length of a with-block (tests, benchmarks,
    a process that serves beside other work): ``with ServerThread(policy) as server: ... server.port``."""

    def __init__(
        self, policy: ServedPolicy, limits: Limits | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.server = PolicyServer(policy, limits)
        self.address = (host, port)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="policy-server", daemon=True)

    def __enter__(self) -> PolicyServer:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.server.start(*self.address), self._loop).result()
        return self.server

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()
