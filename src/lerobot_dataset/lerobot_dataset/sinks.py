"""Per-camera worker threads: each takes one camera's frames of an episode, encodes them and keeps what the
image statistics need, so memory stays bounded however long the episode is.

PyAV releases the GIL while encoding, so cameras encode in parallel with each other and with the caller.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_dataset.errors import EpisodeError
from lerobot_dataset.features import DEPTH_MAX_VALUE
from lerobot_dataset.stats import PixelCounter, Stats, downsample, sample_indices
from lerobot_dataset.video import VideoEncoderConfig, VideoFileEncoder

IMAGE_STRUCT = pa.struct([("bytes", pa.binary()), ("path", pa.string())])


class SampleSpill:
    """Downsampled copy of every frame in a flat file; at the end the sampled ones are read back.

    Which frames the statistics sample depends on the final episode length, unknown while recording.
    """

    def __init__(self, path: Path):
        self.path = path
        self._file = open(path, "wb")  # noqa: SIM115 (closed in close())
        self._shape: tuple[int, ...] | None = None
        self._dtype: np.dtype | None = None
        self.count = 0

    def add(self, small: np.ndarray) -> None:
        """Store one frame already passed through ``downsample`` (contiguous)."""
        if self._shape is None:
            self._shape, self._dtype = small.shape, small.dtype
        self._file.write(memoryview(small).cast("B"))
        self.count += 1

    def close(self) -> None:
        self._file.close()

    def stats(self, levels: int, scale: float) -> Stats:
        self.close()
        frame_bytes = int(np.prod(self._shape)) * self._dtype.itemsize
        counter = PixelCounter(channels=self._shape[2], levels=levels)
        # Read sample by sample (not memory-mapped) so memory stays at one small frame however many samples.
        with open(self.path, "rb") as f:
            for index in sample_indices(self.count):
                f.seek(index * frame_bytes)
                counter.add(np.frombuffer(f.read(frame_bytes), dtype=self._dtype).reshape(self._shape))
        return counter.stats(scale)


@dataclass
class SinkResult:
    key: str
    path: Path  # the episode's mp4 (video) or single-column parquet of PNG bytes (image)
    frames: int
    stats: Stats


class CameraSink(threading.Thread):
    """Base worker: a bounded queue in, ``_process`` per frame, ``_close`` at the end."""

    def __init__(self, key: str, folder: Path, levels: int, scale: float, queue_size: int = 8):
        super().__init__(name=f"camera-{key}", daemon=True)
        self.key = key
        self.folder = folder
        self._levels, self._scale = levels, scale
        self._queue: queue.Queue[tuple[Any, np.ndarray] | None] = queue.Queue(maxsize=queue_size)
        self._spill = SampleSpill(folder / f"{key}.samples")
        self._abort = threading.Event()
        self._error: BaseException | None = None
        self._result: SinkResult | None = None
        self.start()

    def put(self, image: np.ndarray) -> None:
        """Queue ``image``; waits while the worker is behind. The caller may reuse its buffer afterwards:
        the picture is copied here, once, into what the worker encodes."""
        item = (self._prepare(image), np.ascontiguousarray(downsample(image)))
        while True:
            if self._error is not None or not self.is_alive():
                raise EpisodeError(
                    f"the worker for camera {self.key!r} stopped ({self._error!r}); this episode cannot be "
                    "saved, call discard_episode()"
                )
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def finish(self) -> SinkResult:
        self._queue.put(None)
        self.join()
        if self._error is not None:
            raise EpisodeError(f"camera {self.key!r} could not be encoded: {self._error}") from self._error
        assert self._result is not None
        return self._result

    def abort(self) -> None:
        """Stop the worker and drop what it wrote."""
        self._abort.set()
        with contextlib.suppress(queue.Empty):
            while True:  # only this thread puts, so after draining the sentinel fits
                self._queue.get_nowait()
        self._queue.put(None)
        self.join()

    def run(self) -> None:
        try:
            while True:
                item = self._queue.get()
                if item is None or self._abort.is_set():
                    break
                self._process(item[0])
                self._spill.add(item[1])
            if self._abort.is_set():
                self._discard()
                self._spill.close()
                return
            path, frames = self._close()
            stats = self._spill.stats(self._levels, self._scale)
            self._result = SinkResult(self.key, path, frames, stats)
        except Exception as err:  # reported to the caller by put()/finish()
            self._error = err
            with contextlib.suppress(Exception):
                self._discard()
                self._spill.close()

    def _prepare(self, image: np.ndarray) -> Any:
        raise NotImplementedError

    def _process(self, item: Any) -> None:
        raise NotImplementedError

    def _close(self) -> tuple[Path, int]:
        raise NotImplementedError

    def _discard(self) -> None:
        raise NotImplementedError


class VideoSink(CameraSink):
    """Encodes one camera straight into the episode's mp4."""

    def __init__(
        self,
        key: str,
        folder: Path,
        fps: int,
        height: int,
        width: int,
        config: VideoEncoderConfig,
        depth: bool,
    ):
        self._encoder = VideoFileEncoder(folder / f"{key}.mp4", fps, width, height, config)
        levels, scale = (DEPTH_MAX_VALUE + 1, 1.0) if depth else (256, 255.0)
        super().__init__(key, folder, levels, scale)

    def _prepare(self, image: np.ndarray) -> av.VideoFrame:
        return self._encoder.to_frame(image)

    def _process(self, item: av.VideoFrame) -> None:
        self._encoder.encode_frame(item)

    def _close(self) -> tuple[Path, int]:
        return self._encoder.path, self._encoder.close()

    def _discard(self) -> None:
        self._encoder.abort()


class ImageSink(CameraSink):
    """PNG-encodes one camera (``image`` dtype) into a one-column parquet, flushed every few frames."""

    _BATCH = 32

    def __init__(self, key: str, folder: Path, height: int, width: int):
        self._path = folder / f"{key}.images.parquet"
        self._png = av.codec.CodecContext.create("png", "w")
        self._png.width, self._png.height, self._png.pix_fmt = width, height, "rgb24"
        self._batch: list[bytes] = []
        self._frames = 0
        self._writer = pq.ParquetWriter(self._path, pa.schema([pa.field(key, IMAGE_STRUCT)]))
        super().__init__(key, folder, 256, 255.0)

    def _prepare(self, image: np.ndarray) -> av.VideoFrame:
        return av.VideoFrame.from_ndarray(image, format="rgb24")

    def _process(self, item: av.VideoFrame) -> None:
        packets = self._png.encode(item)
        self._batch.append(b"".join(bytes(p) for p in packets))
        self._frames += 1
        if len(self._batch) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._batch:
            column = pa.array([{"bytes": b, "path": None} for b in self._batch], type=IMAGE_STRUCT)
            self._writer.write_table(pa.table({self.key: column}))
            self._batch = []

    def _close(self) -> tuple[Path, int]:
        self._flush()
        self._writer.close()
        return self._path, self._frames

    def _discard(self) -> None:
        self._writer.close()
