"""Exceptions raised by this package; each message says what went wrong and what to do about it."""


class DatasetError(Exception):
    """Base class of every error this package raises on purpose."""


class FeatureError(DatasetError, ValueError):
    """The feature description given to the writer is not valid LeRobot v3.0."""


class FrameError(DatasetError, ValueError):
    """A frame handed to the writer does not match the dataset's features; it was not recorded."""


class EpisodeError(DatasetError, RuntimeError):
    """An episode cannot be saved or discarded in the writer's current state."""


class VideoCodecError(DatasetError, RuntimeError):
    """The installed PyAV/FFmpeg lacks an encoder or decoder the dataset needs."""


class FrameTimestampError(DatasetError, ValueError):
    """A decoded video frame is not at the timestamp the dataset says it is."""


class DatasetFormatError(DatasetError, ValueError):
    """Files on disk do not form a readable LeRobot v3.0 dataset."""


class DatasetLockedError(DatasetError, RuntimeError):
    """Another process holds the dataset open for writing."""
