"""openpi's message encoding: msgpack, with NumPy arrays and scalars as tagged maps (never pickle).

An array travels as ``{b"__ndarray__": True, b"data": bytes, b"dtype": dtype.str, b"shape": [...]}`` and a
NumPy scalar as ``{b"__npgeneric__": True, b"data": value, b"dtype": dtype.str}``, so either side can be
openpi's own ``openpi_client`` (see shared/specs/remote-inference-protocol.md).
"""

from __future__ import annotations

from typing import Any

import msgpack
import numpy as np

# Object, void and complex arrays have no portable byte form (object arrays would need pickle).
_REFUSED_KINDS = frozenset("VOc")


class WireError(ValueError):
    """A message that is not valid msgpack or holds a malformed array; the text says what."""


def _encode(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind in _REFUSED_KINDS:
            raise WireError(
                f"cannot send an array of dtype {value.dtype} (object, void and complex are refused)"
            )
        contiguous = value if value.flags.c_contiguous else value.copy(order="C")  # 0-d arrays stay 0-d
        return {
            b"__ndarray__": True,
            b"data": memoryview(contiguous.reshape(-1).view(np.uint8)),  # its bytes, without a copy
            b"dtype": contiguous.dtype.str,
            b"shape": list(contiguous.shape),
        }
    if isinstance(value, np.generic):
        if value.dtype.kind in _REFUSED_KINDS:
            raise WireError(f"cannot send a scalar of dtype {value.dtype}")
        return {b"__npgeneric__": True, b"data": value.item(), b"dtype": value.dtype.str}
    raise TypeError(f"cannot send a value of type {type(value).__name__}")


def _decode(value: dict) -> Any:
    if b"__ndarray__" in value:
        try:
            dtype = np.dtype(value[b"dtype"])
            shape = tuple(int(size) for size in value[b"shape"])
            data = value[b"data"]
        except (KeyError, TypeError, ValueError) as error:
            raise WireError(f"malformed array in the message: {error}") from None
        if dtype.kind in _REFUSED_KINDS:
            raise WireError(f"arrays of dtype {dtype} are refused (object, void and complex)")
        expected = dtype.itemsize * int(np.prod(shape, dtype=np.int64))
        if not isinstance(data, bytes) or len(data) != expected:
            raise WireError(
                f"array data holds {len(data)} bytes, but dtype {dtype} × shape {shape} needs {expected}"
            )
        return np.frombuffer(data, dtype=dtype).reshape(shape)
    if b"__npgeneric__" in value:
        try:
            return np.dtype(value[b"dtype"]).type(value[b"data"])
        except (KeyError, TypeError, ValueError) as error:
            raise WireError(f"malformed NumPy scalar in the message: {error}") from None
    return value


def pack(message: Any) -> bytes:
    """``message`` (dicts, lists, str, numbers, NumPy arrays and scalars) → one binary frame."""
    return msgpack.packb(message, default=_encode, use_bin_type=True)


def unpack(frame: bytes) -> Any:
    """One binary frame → the message, arrays as read-only NumPy views of the frame."""
    try:
        return msgpack.unpackb(frame, object_hook=_decode, raw=False, strict_map_key=False)
    except WireError:
        raise
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError) as error:
        raise WireError(f"the message is not valid msgpack ({error or type(error).__name__})") from None
