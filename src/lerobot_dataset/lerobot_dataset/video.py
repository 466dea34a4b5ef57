"""Video encoding, concatenation and timestamp-exact decoding with PyAV (no ffmpeg processes).

Frame k of a file sits at pts k/fps: streams use time base 1/fps, so the mp4 timescale is an integer multiple
of fps and every timestamp is exact. Several episodes share one mp4 by remuxing (no re-encode).
"""

from __future__ import annotations

import contextlib
import gc
import os
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from lerobot_dataset.errors import FrameTimestampError, VideoCodecError

# SVT-AV1 prints a banner per encoder to stderr unless told otherwise; keep errors only.
os.environ.setdefault("SVT_LOG", "1")

# FFmpeg contexts of threaded codecs (dav1d, SVT-AV1) must never be freed in a forked child (e.g. a DataLoader
# worker): freeing joins codec threads that exist only in the parent, and the child hangs. So in a child,
# inherited objects are excluded from garbage collection (gc.freeze) and live decoders/encoders are pinned.
_NATIVE_OWNERS: weakref.WeakSet[Any] = weakref.WeakSet()
_PINNED_IN_CHILD: list[Any] = []


def _after_fork_in_child() -> None:
    gc.freeze()
    _PINNED_IN_CHILD.extend(_NATIVE_OWNERS)
    _NATIVE_OWNERS.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)

ENCODER_ALIASES = {"av1": "libsvtav1", "h264": "libx264", "hevc": "libx265"}
AV1_SOFTWARE_DECODERS = ("libdav1d", "libaom-av1")
DEPTH_PIX_FMT = "gray12le"


@dataclass(frozen=True)
class VideoEncoderConfig:
    """How camera streams are encoded. The default is the library's: AV1 (SVT), yuv420p, GOP 2, CRF 30."""

    codec: str = "libsvtav1"
    pix_fmt: str = "yuv420p"
    g: int | None = 2
    crf: int | None = 30
    preset: int | str | None = 12
    extra_options: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def h264(cls, crf: int = 30, g: int = 2) -> VideoEncoderConfig:
        """H.264 (libx264): plays in every web browser, larger files than AV1."""
        return cls(codec="libx264", crf=crf, g=g, preset=None)

    @classmethod
    def depth(cls) -> VideoEncoderConfig:
        """Depth maps: 12-bit grey HEVC, lossless."""
        return cls(
            codec="libx265",
            pix_fmt=DEPTH_PIX_FMT,
            crf=None,
            preset=None,
            extra_options={"x265-params": "lossless=1:log-level=error"},
        )

    @property
    def encoder(self) -> str:
        return ENCODER_ALIASES.get(self.codec, self.codec)

    @property
    def canonical_codec(self) -> str:
        """Name of the stream codec (``av1``, ``h264``, ``hevc``) as info.json records it."""
        return av.codec.Codec(self.encoder, "w").canonical_name

    def options(self) -> dict[str, str]:
        opts = {}
        if self.g is not None:
            opts["g"] = str(self.g)
        if self.crf is not None:
            opts["crf"] = str(self.crf)
        if self.preset is not None:
            opts["preset"] = str(self.preset)
        opts.update({k: str(v) for k, v in self.extra_options.items()})
        return opts

    def check_available(self) -> None:
        """Raise VideoCodecError unless this PyAV can both encode and decode the configured codec."""
        try:
            codec = av.codec.Codec(self.encoder, "w")
        except av.codec.codec.UnknownCodecError as err:
            hint = (
                " Record with VideoEncoderConfig.h264() instead (H.264, also plays in browsers), or install "
                "a PyAV wheel built with SVT-AV1 (the PyPI wheels of av>=14 include it)."
                if self.encoder == "libsvtav1"
                else ""
            )
            raise VideoCodecError(f"This PyAV/FFmpeg build has no '{self.encoder}' encoder.{hint}") from err
        formats = [f.name for f in (codec.video_formats or [])]
        if formats and self.pix_fmt not in formats:
            raise VideoCodecError(
                f"encoder '{self.encoder}' cannot write pixel format {self.pix_fmt}; use one of "
                f"{', '.join(formats)}"
            )
        check_decoder(codec.canonical_name)

    def info(self) -> dict[str, Any]:
        """The encoder settings lerobot 0.6 records next to the stream description."""
        return {
            "video.g": self.g,
            "video.crf": self.crf,
            "video.preset": self.preset,
            "video.fast_decode": 0,
            "video.video_backend": "pyav",
            "video.extra_options": dict(self.extra_options),
        }


def check_decoder(canonical_codec: str) -> None:
    """Raise VideoCodecError unless a software decoder for ``canonical_codec`` is present."""
    if canonical_codec == "av1":
        if not any(name in av.codecs_available for name in AV1_SOFTWARE_DECODERS):
            raise VideoCodecError(
                "This PyAV/FFmpeg build cannot decode AV1 (neither libdav1d nor libaom-av1 is present); "
                "install a PyAV wheel that includes dav1d, or record with VideoEncoderConfig.h264()"
            )
        return
    try:
        av.codec.Codec(canonical_codec, "r")
    except av.codec.codec.UnknownCodecError as err:
        raise VideoCodecError(f"This PyAV/FFmpeg build has no decoder for '{canonical_codec}'") from err


class VideoFileEncoder:
    """Encodes frames into one mp4 at constant frame rate: frame k at pts k/fps."""

    def __init__(self, path: Path, fps: int, width: int, height: int, config: VideoEncoderConfig):
        self.path = path
        self.depth = config.pix_fmt == DEPTH_PIX_FMT
        self.frames = 0
        self._pid = os.getpid()
        self._container = av.open(str(path), "w", format="mp4")
        _NATIVE_OWNERS.add(self)
        try:
            self._stream = self._container.add_stream(config.encoder, rate=fps, options=config.options())
            self._stream.width = width
            self._stream.height = height
            self._stream.pix_fmt = config.pix_fmt
            self._stream.time_base = Fraction(1, fps)
        except Exception:
            self._container.close()
            raise

    def to_frame(self, image: np.ndarray) -> av.VideoFrame:
        """Copy ``image`` into a frame for ``encode_frame``; the caller may reuse ``image`` right after.

        The conversion to the stream's pixel format happens in ``encode_frame``, on the encoding thread, so
        cameras convert in parallel (measured faster than converting on the caller's thread).
        """
        if self.depth:
            return av.VideoFrame.from_ndarray(
                np.ascontiguousarray(image.reshape(image.shape[:2])), DEPTH_PIX_FMT
            )
        return av.VideoFrame.from_ndarray(image, format="rgb24")

    def encode_frame(self, frame: av.VideoFrame) -> None:
        frame.pts = self.frames
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self.frames += 1

    def encode(self, image: np.ndarray) -> None:
        self.encode_frame(self.to_frame(image))

    def close(self) -> int:
        """Flush the encoder and finish the file; returns the number of frames written."""
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        return self.frames

    def abort(self) -> None:
        """Close without caring about the file (it is deleted); flushing keeps SVT-AV1 from complaining."""
        if self._pid == os.getpid():
            with contextlib.suppress(av.FFmpegError):
                self._stream.encode()
            self._container.close()


def concat_videos(inputs: Sequence[Path], output: Path) -> None:
    """Write ``inputs`` one after the other into ``output`` without re-encoding.

    Every packet of input i is shifted by the summed durations of the inputs before it, so frame timestamps
    stay contiguous at 1/fps. The inputs must share codec, size and time base (same encoder settings).
    """
    first = None
    with av.open(str(output), "w", format="mp4") as out:
        out_stream = None
        offset = 0
        for path in inputs:
            with av.open(str(path)) as src:
                stream = src.streams.video[0]
                signature = (
                    stream.codec_context.codec.canonical_name,
                    stream.width,
                    stream.height,
                    stream.time_base,
                )
                if first is None:
                    first = signature
                    out_stream = out.add_stream_from_template(stream, opaque=True)
                    out_stream.time_base = stream.time_base
                elif signature != first:
                    raise VideoCodecError(
                        f"cannot join {path} ({signature}) after a video encoded as {first}; "
                        "episodes of one file must use the same encoder settings"
                    )
                end = offset
                for packet in src.demux(stream):
                    if packet.dts is None:  # demuxer flush packet
                        continue
                    packet.pts += offset
                    packet.dts += offset
                    end = max(end, packet.pts + (packet.duration or 0))
                    packet.stream = out_stream
                    out.mux(packet)
                offset = end


@dataclass(frozen=True)
class VideoProbe:
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: int
    frames: int
    duration_s: float


def probe_video(path: Path) -> VideoProbe:
    """Stream properties read from the container header (nothing decoded)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base) if stream.duration else 0.0
        return VideoProbe(
            codec=stream.codec_context.codec.canonical_name,
            pix_fmt=stream.codec_context.pix_fmt or "",
            width=stream.codec_context.width,
            height=stream.codec_context.height,
            # PyAV 19: base_rate is a Rational, not a Fraction
            fps=round(float(stream.base_rate)) if stream.base_rate else 0,
            frames=stream.frames,
            duration_s=duration,
        )


def decoded_timestamps(path: Path) -> np.ndarray:
    """Presentation time in seconds of every frame, obtained by decoding the whole file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        return np.array([float(frame.pts * stream.time_base) for frame in container.decode(stream)])


def _to_array(frame: av.VideoFrame, depth: bool) -> np.ndarray:
    if depth:
        return frame.to_ndarray(format=DEPTH_PIX_FMT)[:, :, None]
    return frame.to_ndarray(format="rgb24")


class VideoReader:
    """Decodes frames of one mp4 by timestamp, checking each is within ``tolerance_s`` of the request.

    Requests moving forward through the file continue decoding without seeking, so reading an episode frame
    by frame decodes each frame once.
    """

    # Continue decoding rather than seek when the next request is at most this many seconds ahead.
    _FORWARD_WINDOW_S = 0.5
    # First step back when a seek overshoots the requested frame (doubled until it does not).
    _SEEK_MARGIN_S = 0.1

    def __init__(self, path: Path, depth: bool = False, tolerance_s: float = 1e-4):
        self.path = path
        self.depth = depth
        self.tolerance_s = tolerance_s
        self._pid = os.getpid()
        self._container = av.open(str(path))
        _NATIVE_OWNERS.add(self)
        self._stream = self._container.streams.video[0]
        self._time_base = self._stream.time_base
        self._frames: Iterator[av.VideoFrame] | None = None
        self._last: tuple[float, av.VideoFrame] | None = None

    def close(self) -> None:
        if self._pid == os.getpid():  # a copy inherited through fork is pinned, never closed
            self._frames = None
            self._container.close()

    def _seek(self, timestamp: float) -> None:
        target = int(Fraction(timestamp).limit_denominator(1_000_000) / self._time_base)
        self._container.seek(max(target, 0), stream=self._stream, backward=True, any_frame=False)
        self._frames = self._container.decode(self._stream)
        self._last = None

    def frames_at(self, timestamps: Sequence[float]) -> np.ndarray:
        """Frames at ``timestamps`` (seconds within this file), stacked (N, H, W, C)."""
        if len(timestamps) == 0:
            raise ValueError("no timestamps requested")
        pending = sorted({float(t) for t in timestamps})
        found: dict[float, np.ndarray] = {}
        last = self._last
        # How far before the request the last seek aimed; None when decoding continues without a seek.
        seek_margin: float | None = None
        if last is not None and last[0] - self.tolerance_s <= pending[0] <= last[0] + self._FORWARD_WINDOW_S:
            if abs(last[0] - pending[0]) < self.tolerance_s:
                found[pending.pop(0)] = _to_array(last[1], self.depth)
        else:
            self._seek(pending[0])
            seek_margin = 0.0
        while pending:
            frame = next(self._frames, None)
            if frame is None:
                self._last = None
                raise FrameTimestampError(
                    f"{self.path}: no frame at {pending[0]:.6f} s; the video ends earlier. The dataset's "
                    "episode metadata and this video disagree: run `lerobot-ros-dataset validate`"
                )
            t = float(frame.pts * self._time_base)
            self._last = (t, frame)
            if pending[0] < t - self.tolerance_s and seek_margin is not None and pending[0] > seek_margin:
                # With B-frames (lerobot's HEVC depth videos) the container indexes keyframes by decode
                # time, so a seek can land past the request: aim further back and decode forward from there.
                seek_margin = max(2 * seek_margin, self._SEEK_MARGIN_S)
                self._seek(max(pending[0] - seek_margin, 0.0))
                continue
            seek_margin = None
            if pending[0] < t - self.tolerance_s:
                raise FrameTimestampError(
                    f"{self.path}: no frame within {self.tolerance_s} s of {pending[0]:.6f} s (the next "
                    f"decoded frame is at {t:.6f} s); the video is not at a constant 1/fps frame rate"
                )
            if abs(pending[0] - t) < self.tolerance_s:
                found[pending.pop(0)] = _to_array(frame, self.depth)
        return np.stack([found[float(t)] for t in timestamps])
