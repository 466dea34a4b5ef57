"""LeRobot v3.0 datasets (Parquet + MP4) without ROS: a streaming writer, a reader, statistics, validation."""

from lerobot_dataset.errors import (
    DatasetError,
    DatasetFormatError,
    DatasetLockedError,
    EpisodeError,
    FeatureError,
    FrameError,
    FrameTimestampError,
    VideoCodecError,
)
from lerobot_dataset.metadata import Episode, FileLimits, VideoSpan
from lerobot_dataset.reader import DatasetReader
from lerobot_dataset.video import VideoEncoderConfig
from lerobot_dataset.writer import DatasetWriter

__all__ = [
    "DatasetError",
    "DatasetFormatError",
    "DatasetLockedError",
    "DatasetReader",
    "DatasetWriter",
    "Episode",
    "EpisodeError",
    "FeatureError",
    "FileLimits",
    "FrameError",
    "FrameTimestampError",
    "VideoCodecError",
    "VideoEncoderConfig",
    "VideoSpan",
]
