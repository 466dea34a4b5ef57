"""A policy on a server (lerobot-ros-serve, or openpi's with a key map), with LoadedPolicy's interface.

The node hands it observations in ROS units; it converts them to the dataset's units with the mapping, sends
them (images raw, or JPEG/PNG per camera), and converts the reply's chunk back. A server that cannot be
reached raises ServerUnavailable: the runner holds, says why, and asks again later (each request reconnects
if needed), so a restarted server is picked up without restarting the node.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.sync.client import ClientConnection, connect, unix_connect

from lerobot_dataset.mapping import Mapping, parse_mapping
from lerobot_dataset.units import MappingUnits
from lerobot_policy_node.observation import blank_observation, last_frames
from lerobot_policy_node.remote.wire import WireError, pack, unpack
from lerobot_training.features import ACTION

IMAGE_ENCODINGS = ("raw", "jpeg", "png")
JPEG_QUALITY = 90
UNIX_PREFIX = "unix:"  # a server on this machine's Unix socket: unix:/path/to/socket
RECONNECT_PERIOD_S = 1.0  # a server found away is not tried again sooner (the runner asks every tick)


API_KEY_ENV = "LEROBOT_ROS_API_KEY"  # where both ends find the API key when none is given


def parse_key_map(pairs: list[str]) -> dict[str, str]:
    """``["observation.images.front=observation/image", "task=prompt"]`` → feature name → server key."""
    key_map = {}
    for pair in pairs:
        feature, separator, key = pair.partition("=")
        if not separator or not feature.strip() or not key.strip():
            raise ValueError(f"key_map entries are feature=key, e.g. task=prompt; got {pair!r}")
        key_map[feature.strip()] = key.strip()
    return key_map


def load_description(path: str | Path) -> dict[str, Any]:
    """A YAML file describing a server that does not describe itself (see RemotePolicy)."""
    try:
        description = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise ValueError(f"cannot read the remote description {path}: {error}") from None
    required = {"input_features", "action_dim", "action_horizon"}
    if not isinstance(description, dict) or not required <= set(description):
        raise ValueError(f"the remote description {path} must be a map with {sorted(required)}")
    return description


class ServerUnavailable(ConnectionError):
    """The server cannot be reached or went away; the robot holds until it answers again."""


class ServerError(RuntimeError):
    """The server answered with an error (its text frame), e.g. a feature it does not know."""


def encode_image(image: np.ndarray, encoding: str) -> np.ndarray | bytes:
    """An H×W×C image (RGB uint8, or a uint16 depth map H×W×1) as it travels: the array, or JPEG/PNG bytes
    (16-bit PNG for depth)."""
    if encoding == "raw":
        return image
    pixels = image[..., 0] if image.shape[-1] == 1 else cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    options = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if encoding == "jpeg" else []
    ok, data = cv2.imencode(f".{encoding}", pixels, options)
    if not ok:
        raise ValueError(f"OpenCV could not encode a {image.shape} image as {encoding}")
    return data.tobytes()


class RemotePolicy:
    """``server``: ws://host:port, or unix:PATH for a Unix socket. ``key_map``: feature name → the server's
    key (openpi servers name inputs their own way, e.g. observation.images.front → observation/image);
    unmapped names travel as they are. ``description``: what a server that does not describe itself
    (openpi's) takes and returns, as lerobot-ros-serve's metadata says it: input_features, action_dim,
    action_horizon (n_obs_steps...)."""

    def __init__(
        self,
        server: str,
        api_key: str = "",
        key_map: MappingABC[str, str] | None = None,
        image_encoding: MappingABC[str, str] | str = "raw",
        timeout: float = 10.0,
        description: MappingABC[str, Any] | None = None,
    ) -> None:
        self.server = server
        self.checkpoint = server
        self.device = "remote"
        self._headers = {"Authorization": f"Api-Key {api_key}"} if api_key else None
        self._timeout = timeout
        self._key_map = dict(key_map or {})
        self._description = dict(description or {})
        self._connection: ClientConnection | None = None
        self._retry_at = 0.0  # monotonic time before which a server found away is not tried again
        self._unavailable = ""
        self.last_round_trip = 0.0  # seconds, the last request's
        self.last_server_ms = 0.0  # of which the server's own inference time
        metadata = self._connect()
        self.metadata = metadata
        self.type: str = metadata.get("policy_type", "remote")
        self.input_features: dict[str, dict[str, Any]] = metadata["input_features"]
        self.output_features: dict[str, dict[str, Any]] = metadata.get(
            "output_features", {ACTION: {"type": "ACTION", "shape": [metadata["action_dim"]]}}
        )
        self.action_dim: int = metadata["action_dim"]
        self.chunk_length: int = metadata["action_horizon"]
        self.ensemble_coeff: float | None = metadata.get("temporal_ensemble_coeff")
        self.supports_rtc: bool = bool(metadata.get("supports_rtc", False))
        self.use_rtc = self.supports_rtc
        self.whole_chunks = False
        mapping_text = metadata.get("mapping")
        self.trained_mapping: Mapping | None = (
            parse_mapping(mapping_text, where=f"the mapping served by {server}") if mapping_text else None
        )
        self.units = MappingUnits()
        self.task = ""
        self.history: deque[dict[str, np.ndarray]] = deque(maxlen=int(metadata.get("n_obs_steps", 1)))
        encodings = (
            dict(image_encoding)
            if isinstance(image_encoding, MappingABC)
            else {name: image_encoding for name in self.input_features}
        )
        for name, encoding in encodings.items():
            if encoding not in IMAGE_ENCODINGS:
                raise ValueError(
                    f"image encoding for {name} must be one of {IMAGE_ENCODINGS}, got {encoding!r}"
                )
            feature = self.input_features.get(name, {})
            if encoding == "jpeg" and feature.get("type") == "VISUAL" and feature["shape"][0] == 1:
                raise ValueError(
                    f"{name} is a depth map: JPEG is 8-bit and lossy, it cannot carry it; use png or raw"
                )
        self._encodings = encodings

    def _connect(self) -> dict[str, Any]:
        if time.monotonic() < self._retry_at:
            raise ServerUnavailable(self._unavailable)
        options = dict(
            compression=None,
            max_size=None,
            additional_headers=self._headers,
            open_timeout=self._timeout,
            close_timeout=1,
            legacy=True,  # a connection kept across requests, not a with-block
        )
        try:
            if self.server.startswith(UNIX_PREFIX):
                self._connection = unix_connect(self.server[len(UNIX_PREFIX) :], **options)
            else:
                self._connection = connect(self.server, **options)
            served = unpack(self._connection.recv(timeout=self._timeout))
        except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed, WireError) as error:
            self.close()
            self._retry_at = time.monotonic() + RECONNECT_PERIOD_S
            self._unavailable = f"policy server {self.server} unavailable: {error}"
            raise ServerUnavailable(self._unavailable) from None
        except InvalidURI as error:
            raise ValueError(
                f"server must be a ws://host:port address, got {self.server!r}: {error}"
            ) from None
        metadata = {**self._description, **served} if isinstance(served, dict) else served
        if not isinstance(metadata, dict) or "input_features" not in metadata:
            self.close()
            raise ServerError(
                f"{self.server} does not describe its inputs (input_features, action_dim, action_horizon in "
                f"its metadata, as lerobot-ros-serve sends); got {metadata!r:.200}. For an openpi server, "
                "describe them in remote_description (README: remote inference)"
            )
        return metadata

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def reset(self) -> None:
        self.history.clear()

    def observe(self, observation: dict[str, np.ndarray]) -> None:
        self.history.append(observation)

    def warm_up(self) -> float:
        """One request on a blank observation (the server's first may be slow); its seconds."""
        blank = blank_observation(self.input_features)
        started = time.perf_counter()
        self.predict(blank, np.zeros((0, self.action_dim), np.float32), 0)
        self.reset()
        return time.perf_counter() - started

    def request(self, observation: dict[str, np.ndarray], pending: np.ndarray, delay: int) -> dict[str, Any]:
        """The message for ``observation`` (ROS units): features in the dataset's units, the last n_obs_steps
        frames stacked oldest first when the policy looks at several."""
        steps = self.history.maxlen or 1
        frames = last_frames(self.history, observation)
        message: dict[str, Any] = {}
        for name in observation:
            if self.input_features.get(name, {}).get("type") == "VISUAL":
                values = [encode_image(frame[name], self._encodings.get(name, "raw")) for frame in frames]
            else:
                values = [
                    np.asarray(self.units.to_dataset(name, frame[name]), np.float32) for frame in frames
                ]
            message[self._key_map.get(name, name)] = values if steps > 1 else values[0]
        message[self._key_map.get("task", "task")] = self.task
        if self.use_rtc and len(pending):
            pending = self.units.to_dataset(
                ACTION, np.asarray(pending, np.float64).reshape(-1, self.action_dim)
            )
            message["prev_actions"] = pending.astype(np.float32)
            message["inference_delay"] = int(delay)
        return message

    def predict(self, observation: dict[str, np.ndarray], pending: np.ndarray, delay: int) -> np.ndarray:
        """The chunk for this observation, in ROS units (LoadedPolicy.predict over the network)."""
        frame = pack(self.request(observation, pending, delay))
        if self._connection is None:
            self._connect()
        assert self._connection is not None
        started = time.perf_counter()
        try:
            self._connection.send(frame)
            reply = self._connection.recv(timeout=self._timeout)
        except (OSError, TimeoutError, ConnectionClosed) as error:
            self.close()  # a late reply must never be taken for the next request's
            raise ServerUnavailable(
                f"policy server {self.server} lost: {error or type(error).__name__}"
            ) from None
        self.last_round_trip = time.perf_counter() - started
        if isinstance(reply, str):
            self.close()
            raise ServerError(f"policy server {self.server}: {reply}")
        answer = unpack(reply)
        self.last_server_ms = float(answer.get("server_timing", {}).get("infer_ms", 0.0))
        chunk = np.asarray(answer["actions"], np.float64).reshape(-1, self.action_dim)
        return self.units.to_ros(ACTION, chunk if self.whole_chunks else chunk[: self.chunk_length])
