"""Feature descriptions (the ``features`` block of info.json) and checks of the values a frame carries."""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from lerobot_dataset.errors import FeatureError, FrameError

CODEBASE_VERSION = "v3.0"

# Always present, always written by the dataset itself (the library never takes them from the caller).
DEFAULT_FEATURES: dict[str, dict[str, Any]] = {
    "timestamp": {"dtype": "float32", "shape": [1], "names": None},
    "frame_index": {"dtype": "int64", "shape": [1], "names": None},
    "episode_index": {"dtype": "int64", "shape": [1], "names": None},
    "index": {"dtype": "int64", "shape": [1], "names": None},
    "task_index": {"dtype": "int64", "shape": [1], "names": None},
}

NUMERIC_DTYPES = ("float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16", "bool")
CAMERA_DTYPES = ("video", "image")
CAMERA_NAMES = ["height", "width", "channels"]
# Depth maps are stored losslessly as 12-bit grey video.
DEPTH_MAX_VALUE = 4095
# lerobot 0.6 dequantizes depth video on read (log scale over 0.01-10 m unless the info block says otherwise).
# This linear quantizer (metres) reads code k back as k millimetres: the suite's stored values, unchanged.
DEPTH_QUANTIZER_INFO: dict[str, Any] = {
    "video.depth_min": 0.0,
    "video.depth_max": DEPTH_MAX_VALUE / 1000,
    "video.shift": 0.0,
    "video.use_log": False,
    "depth_unit": "mm",
}


def is_camera(feature: Mapping[str, Any]) -> bool:
    """True for ``video`` and ``image`` features (decoded to pictures when read)."""
    return feature["dtype"] in CAMERA_DTYPES


# lerobot 0.6 marks depth videos with ``is_depth_map``; 0.4 wrote ``video.is_depth_map`` (0.6 still reads it).
DEPTH_FLAG_KEYS = ("is_depth_map", "video.is_depth_map")


def depth_flag(info: Mapping[str, Any]) -> bool | None:
    """The depth marker of a video ``info`` block under either key; None when neither is present."""
    flags = [info[key] for key in DEPTH_FLAG_KEYS if key in info]
    return any(bool(flag) for flag in flags) if flags else None


def is_depth(feature: Mapping[str, Any]) -> bool:
    """True for a depth map: a camera marked so in its info (either key) or with a single channel."""
    if not is_camera(feature):
        return False
    return bool(depth_flag(feature.get("info") or {})) or camera_shape(feature)[2] == 1


@dataclass(frozen=True)
class DepthQuantizer:
    """How lerobot 0.6 maps depth in metres to the 12-bit codes of a depth video (``video.depth_*`` info)."""

    depth_min: float
    depth_max: float
    shift: float
    use_log: bool

    @classmethod
    def of(cls, feature: Mapping[str, Any]) -> DepthQuantizer | None:
        """The quantizer of a depth video whose codes are not millimetres already; None for the suite's own
        (identity) quantizer and for datasets that record none (the suite's before lerobot 0.6)."""
        info = feature.get("info") or {}
        if not is_depth(feature) or not any(f"video.{name}" in info for name in _QUANTIZER_FIELDS):
            return None
        quantizer = cls(
            float(info.get("video.depth_min", _LEROBOT_DEPTH_DEFAULTS["depth_min"])),
            float(info.get("video.depth_max", _LEROBOT_DEPTH_DEFAULTS["depth_max"])),
            float(info.get("video.shift", _LEROBOT_DEPTH_DEFAULTS["shift"])),
            bool(info.get("video.use_log", _LEROBOT_DEPTH_DEFAULTS["use_log"])),
        )
        identity = cls(*(DEPTH_QUANTIZER_INFO[f"video.{name}"] for name in _QUANTIZER_FIELDS))
        return None if quantizer == identity else quantizer

    def millimetres(self, codes: np.ndarray) -> np.ndarray:
        """Codes (uint16, 0..4095) to depth in millimetres (uint16), as lerobot 0.6 dequantizes them."""
        if self.use_log:
            low, high = math.log(self.depth_min + self.shift), math.log(self.depth_max + self.shift)
        else:
            low, high = self.depth_min, self.depth_max
        metres = codes.astype(np.float64) * ((high - low) / DEPTH_MAX_VALUE) + low
        if self.use_log:
            metres = np.exp(metres) - self.shift
        metres = np.clip(metres, self.depth_min, self.depth_max)
        return np.clip(np.rint(metres * 1000), 0, np.iinfo(np.uint16).max).astype(np.uint16)


_QUANTIZER_FIELDS = ("depth_min", "depth_max", "shift", "use_log")
# lerobot 0.6's defaults for a field its info block leaves out.
_LEROBOT_DEPTH_DEFAULTS = {"depth_min": 0.01, "depth_max": 10.0, "shift": 3.5, "use_log": True}


def camera_shape(feature: Mapping[str, Any]) -> tuple[int, int, int]:
    """(height, width, channels) of a camera feature; older datasets list channels first, say so in names."""
    shape = [int(n) for n in feature["shape"]]
    names = list(feature.get("names") or [])
    if len(names) == 3 and names[0] in ("channels", "channel"):
        return shape[1], shape[2], shape[0]
    return shape[0], shape[1], shape[2]


def video_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [key for key, ft in features.items() if ft["dtype"] == "video"]


def image_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [key for key, ft in features.items() if ft["dtype"] == "image"]


def camera_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return [key for key, ft in features.items() if is_camera(ft)]


def data_keys(features: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Keys stored as columns of data/*.parquet: every feature except videos."""
    return [key for key, ft in features.items() if ft["dtype"] != "video"]


def check_user_features(features: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Check the features a caller wants to record and return them normalised (shapes as lists of ints).

    Raises FeatureError listing every problem found.
    """
    if not isinstance(features, Mapping) or not features:
        raise FeatureError("features must be a non-empty dict: {name: {'dtype': ..., 'shape': [...]}}")
    problems: list[str] = []
    normalised: dict[str, dict[str, Any]] = {}
    for name, spec in features.items():
        problem = _feature_problem(name, spec)
        if problem:
            problems.append(problem)
            continue
        ft = copy.deepcopy(dict(spec))
        ft["shape"] = [int(n) for n in spec["shape"]]
        if is_camera(ft):
            ft.setdefault("names", list(CAMERA_NAMES))
        else:
            ft.setdefault("names", None)
        normalised[name] = ft
    if problems:
        raise FeatureError("Invalid features:\n  - " + "\n  - ".join(problems))
    return normalised


def _feature_problem(name: Any, spec: Any) -> str | None:
    if not isinstance(name, str) or not name:
        return f"feature name {name!r} must be a non-empty string"
    if "/" in name:
        return (
            f"feature name {name!r} contains '/', which LeRobot uses to flatten nested keys; "
            f"use '.' instead (e.g. {name.replace('/', '.')!r})"
        )
    if name in DEFAULT_FEATURES or name == "task":
        return f"feature {name!r} is written by the dataset itself; remove it from the features you pass"
    if not isinstance(spec, Mapping) or "dtype" not in spec or "shape" not in spec:
        return f"feature {name!r} needs a dict with 'dtype' and 'shape'"
    dtype, shape = spec["dtype"], spec["shape"]
    if dtype not in NUMERIC_DTYPES + CAMERA_DTYPES:
        return f"feature {name!r} has dtype {dtype!r}; use one of {', '.join(NUMERIC_DTYPES + CAMERA_DTYPES)}"
    if not isinstance(shape, (list, tuple)) or not shape:
        return f"feature {name!r} has shape {shape!r}; give a list of positive integers such as [6]"
    if not all(isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n > 0 for n in shape):
        return f"feature {name!r} has shape {list(shape)}; every dimension must be a positive integer"
    if dtype in CAMERA_DTYPES:
        if len(shape) != 3 or shape[2] not in (1, 3):
            return (
                f"camera feature {name!r} has shape {list(shape)}; use [height, width, 3] for colour "
                "or [height, width, 1] for a depth map"
            )
        if shape[2] == 1 and dtype == "image":
            return f"depth feature {name!r} must use dtype 'video' (12-bit lossless HEVC)"
        if dtype == "video" and (shape[0] % 2 or shape[1] % 2) and shape[2] == 3:
            return (
                f"video feature {name!r} has odd height or width {list(shape[:2])}; yuv420p needs even sizes"
            )
    elif len(shape) != 1:
        return f"feature {name!r} has shape {list(shape)}; numeric features must be 1-D, flatten to [N]"
    if dtype == "video" and spec.get("names") not in (None, CAMERA_NAMES, ["height", "width", "channel"]):
        return f"video feature {name!r} must have names {CAMERA_NAMES}"
    return None


def arrow_type(feature: Mapping[str, Any]) -> pa.DataType:
    """The parquet column type of a non-video feature, as the library writes it."""
    if feature["dtype"] == "image":
        return pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    value_type = pa.from_numpy_dtype(np.dtype(feature["dtype"]))
    shape = list(feature["shape"])
    if shape == [1]:
        return value_type
    return pa.list_(value_type, shape[0])


def data_schema(features: Mapping[str, Mapping[str, Any]]) -> pa.Schema:
    """Schema of data/*.parquet: one column per non-video feature, in feature order."""
    return pa.schema([pa.field(key, arrow_type(features[key])) for key in data_keys(features)])


def check_frame_value(name: str, feature: Mapping[str, Any], value: Any) -> np.ndarray:
    """Return ``value`` as an array of the feature's dtype and shape, or raise FrameError saying why not.

    Cameras: uint8 (height, width, 3); depth maps: uint16 (height, width) or (height, width, 1) with values
    up to 4095. Numbers: anything numpy turns into the declared shape without losing meaning (an integer for
    a float feature is fine; a float for an integer feature, NaN or infinity is not).
    """
    dtype, shape = feature["dtype"], tuple(feature["shape"])
    if is_depth(feature):
        return _check_depth(name, shape, value)
    if is_camera(feature):
        return _check_image(name, shape, value)
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as err:
        raise FrameError(f"{name}: cannot read {type(value).__name__} as a number array ({err})") from err
    if shape == (1,) and array.shape == ():
        array = array.reshape(1)
    if array.shape != shape:
        raise FrameError(f"{name}: expected shape {list(shape)}, got {list(array.shape)}")
    target = np.dtype(dtype)
    kind = array.dtype.kind
    if target.kind == "f":
        if kind not in "fiu":
            raise FrameError(f"{name}: expected numbers for dtype {dtype}, got dtype {array.dtype}")
        converted = array.astype(target)
        bad = ~np.isfinite(converted)
        if bad.any():
            where = [int(i) for i in np.flatnonzero(bad)[:5]]
            raise FrameError(
                f"{name}: NaN or infinite value at position(s) {where} "
                f"({array.reshape(-1)[where].tolist()}); "
                "a dataset must hold finite numbers: fix the source or drop this frame"
            )
        return converted
    if target.kind == "b":
        if kind != "b":
            raise FrameError(f"{name}: expected booleans (dtype bool), got dtype {array.dtype}")
        return array.astype(bool)
    if kind not in "iu" and not (kind == "b" and target.kind in "iu"):
        raise FrameError(
            f"{name}: expected integers for dtype {dtype}, got dtype {array.dtype}; "
            "round explicitly if intended"
        )
    info = np.iinfo(target)
    if array.size and (array.min() < info.min or array.max() > info.max):
        raise FrameError(f"{name}: values {array.tolist()} do not fit dtype {dtype}")
    return array.astype(target)


def _check_image(name: str, shape: tuple[int, ...], value: Any) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise FrameError(
            f"{name}: expected a numpy uint8 array of shape {list(shape)}, got {type(value).__name__}"
        )
    if value.shape != shape:
        hint = ""
        if value.shape == (shape[2], shape[0], shape[1]):
            hint = "; it looks channel-first, pass image.transpose(1, 2, 0)"
        raise FrameError(
            f"{name}: expected image shape {list(shape)} (height, width, channels), got "
            f"{list(value.shape)}{hint}"
        )
    if value.dtype != np.uint8:
        hint = (
            " (float images in [0, 1]: (image * 255).round().astype(np.uint8))"
            if value.dtype.kind == "f"
            else ""
        )
        raise FrameError(f"{name}: expected dtype uint8 (RGB 0..255), got {value.dtype}{hint}")
    return value


def _check_depth(name: str, shape: tuple[int, ...], value: Any) -> np.ndarray:
    if not isinstance(value, np.ndarray):
        raise FrameError(
            f"{name}: expected a numpy uint16 depth map of shape {list(shape)}, got {type(value).__name__}"
        )
    if value.shape == shape[:2]:
        value = value[:, :, None]
    if value.shape != shape:
        raise FrameError(
            f"{name}: expected depth shape {list(shape)} or {list(shape[:2])}, got {list(value.shape)}"
        )
    if value.dtype != np.uint16:
        raise FrameError(f"{name}: expected depth dtype uint16 (e.g. millimetres), got {value.dtype}")
    peak = int(value.max()) if value.size else 0
    if peak > DEPTH_MAX_VALUE:
        raise FrameError(
            f"{name}: depth value {peak} exceeds {DEPTH_MAX_VALUE}, the largest a 12-bit lossless depth "
            "video holds; clip far readings or change units (e.g. 2 mm steps) before recording"
        )
    return value


def check_fps(fps: Any) -> int:
    """LeRobot stores fps as an integer; refuse anything else rather than silently rounding."""
    if isinstance(fps, bool) or not isinstance(fps, (int, float, np.integer, np.floating)):
        raise FeatureError(f"fps must be a positive integer, got {fps!r}")
    if isinstance(fps, (float, np.floating)) and (not math.isfinite(fps) or not float(fps).is_integer()):
        raise FeatureError(
            f"fps must be a whole number (LeRobot stores it as an int and places video frames at k/fps), "
            f"got {fps!r}; resample the recording to an integer rate"
        )
    if int(fps) <= 0:
        raise FeatureError(f"fps must be a positive integer, got {fps!r}")
    return int(fps)
