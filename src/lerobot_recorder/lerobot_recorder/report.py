"""Per-bag sync report of a conversion: a text table, a PNG of stream latencies and gaps, and a JSON of the
episodes the bag gave with the frames each stream filled (meta/lerobot_ros/sync/; lerobot ignores it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lerobot_recorder.streams import EpisodeReport
from lerobot_recorder.sync import MIN_EPISODE_S, NS, below_fps


def latency_ms(stream) -> np.ndarray:
    """Receive time minus stamp per sample (0 for streams stamped with the receive time)."""
    return (stream.receive_times - stream.times) / 1e6


# A stream silent for longer than this has a gap (reported as one), which its rate leaves out.
GAP_S = 0.5


def stream_rate(stream) -> float:
    """Samples per second from the stamps, over the time the stream ran (its gaps over GAP_S left out)."""
    steps = np.diff(stream.times) / NS
    running = steps[steps <= GAP_S] if np.any(steps <= GAP_S) else steps
    return len(running) / float(np.sum(running)) if np.sum(running) > 0 else 0.0


def slow_streams(streams: dict, fps: int) -> dict[str, float]:
    """Camera feature → its rate, for the cameras that ran below the dataset's ``fps``."""
    rates = {name: stream_rate(s) for name, s in streams.items() if s.source.is_image}
    return {name: rate for name, rate in rates.items() if below_fps(rate, fps)}


def _episode_of(report: EpisodeReport, frame: int) -> tuple[int, int]:
    """(episode index, frame index in it) of kept frame ``frame``."""
    for episode, (begin, end) in zip(report.episodes, report.alignment.segments, strict=True):
        if begin <= frame < end:
            return episode, frame - begin
    raise IndexError(frame)


def report_text(report: EpisodeReport, note: str = "") -> str:
    """The report's table and problems; ``note``: what was salvaged of a bag that was never closed."""
    a = report.alignment
    duration = report.frames / report.fps
    episodes = report.episodes
    lines = [
        f"episode {episodes[0]} <- {report.bag}"
        if len(episodes) == 1
        else f"episodes {episodes[0]}-{episodes[-1]} (split at gaps) <- {report.bag}",
        f"frames: {report.frames} kept of {a.grid_frames} on the {report.fps} fps grid ({duration:.2f} s); "
        f"trimmed {a.trimmed_start_s:.3f} s at the start and {a.trimmed_end_s:.3f} s at the end",
        "",
        f"{'feature':28} {'topic':26} {'samples':>7} {'rate Hz':>8} {'latency ms p50/p99':>19} "
        f"{'out of order':>12} {'gaps':>5} {'cut':>5} {'filled':>6} {'stale':>6}",
    ]
    for name, stream in report.streams.items():
        p50, p99 = np.percentile(latency_ms(stream), [50, 99])
        lines.append(
            f"{name:28} {stream.source.topic:26} {len(stream.times):7d} {stream_rate(stream):8.1f} "
            f"{p50:9.1f}/{p99:<9.1f} {stream.out_of_order:12d} {len(a.gaps.get(name, [])):5d} "
            f"{len(a.dropped.get(name, [])):5d} {len(a.filled.get(name, [])):6d} "
            f"{len(a.stale.get(name, [])):6d}"
        )
    start = min(int(s.times[0]) for s in report.streams.values())
    problems = [
        f"WARNING: {name} ran at {rate:.1f} Hz, below the dataset's {report.fps} fps: its frames are "
        "filled or the episode split where it lags; raise the camera's rate (render or capture smaller "
        "images), lower the mapping's fps, or give the feature a longer 'tolerance' in the mapping"
        for name, rate in slow_streams(report.streams, report.fps).items()
    ]
    for (_, end), (begin, _) in zip(a.segments[:-1], a.segments[1:], strict=True):
        cut = a.frame_times[begin] - a.frame_times[end - 1] - NS / report.fps
        problems.append(
            f"split: {cut / NS:.2f} s cut at {(a.frame_times[end - 1] - start) / NS:.2f} s (a gap longer "
            f"than the frames a stream may miss, see 'cut'): episodes {_episode_of(report, end - 1)[0]} and "
            f"{_episode_of(report, begin)[0]} are its two sides, each with its own time from 0"
        )
    for first, last in a.fragments:
        problems.append(
            f"dropped {(last - first) / NS + 1 / report.fps:.2f} s at {(first - start) / NS:.2f} s: a side "
            f"of a split shorter than {MIN_EPISODE_S} s"
        )
    for name, frames in a.filled.items():
        if len(frames):
            where = ", ".join("episode {} frame {}".format(*_episode_of(report, int(k))) for k in frames[:10])
            more = f" and {len(frames) - 10} more" if len(frames) > 10 else ""
            problems.append(
                f"filled {name}: {len(frames)} frame(s) had no sample within tolerance and took the nearest "
                f"earlier one: {where}{more}"
            )
    for name, gaps in a.gaps.items():
        for begin, end in gaps:
            problems.append(f"gap in {name}: {(end - begin) / 1e6:.0f} ms at {(begin - start) / NS:.2f} s")
    for name, stream in report.streams.items():
        if stream.out_of_order:
            problems.append(
                f"{name}: {stream.out_of_order} samples arrived with stamps older than the previous one"
            )
    if note:
        problems.insert(0, note)
    lines += ["", "problems:" if problems else "problems: none", *[f"  - {p}" for p in problems]]
    return "\n".join(lines) + "\n"


def report_plot(report: EpisodeReport, path: Path, max_points: int = 2000) -> None:
    """Latency per stream over the episode, gaps shaded red, dropped frames as orange lines."""
    from matplotlib.figure import Figure  # the object API: no pyplot start-up, no global state

    streams = report.streams
    start = min(int(s.times[0]) for s in streams.values())
    figure = Figure(figsize=(10, 1.8 * len(streams) + 0.8))
    axes = figure.subplots(len(streams), 1, sharex=True, squeeze=False)[:, 0]
    for axis, (name, stream) in zip(axes, streams.items(), strict=True):
        every = max(1, len(stream.times) // max_points)  # a readable plot needs no more points than pixels
        axis.plot((stream.times[::every] - start) / NS, latency_ms(stream)[::every], ".", markersize=2)
        for begin, end in report.alignment.gaps.get(name, []):
            axis.axvspan((begin - start) / NS, (end - start) / NS, color="tab:red", alpha=0.3)
        for dropped in report.alignment.dropped.get(name, []):
            axis.axvline((dropped - start) / NS, color="tab:orange", linewidth=0.5)
        axis.set_ylabel("latency ms", fontsize=8)
        axis.set_title(f"{name} ({stream.source.topic})", fontsize=9, loc="left")
    kept = len(report.alignment.frame_times)
    axes[-1].set_xlabel(f"seconds since the first message ({kept} frames kept; red: gaps, orange: cut)")
    figure.suptitle(f"episode {report.episode_index}: receive latency per stream", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def report_json(report: EpisodeReport) -> dict:
    """Per episode of the bag: its length, its start (seconds since the bag's first message) and the frames
    each stream filled; and the sides of splits too short to keep (first and last frame times)."""
    a = report.alignment
    start = min(int(s.times[0]) for s in report.streams.values())
    episodes = []
    for index, (begin, end) in zip(report.episodes, a.segments, strict=True):
        filled = {name: (k[(k >= begin) & (k < end)] - begin).tolist() for name, k in a.filled.items()}
        episodes.append(
            {
                "episode_index": index,
                "length": end - begin,
                "start_s": (a.frame_times[begin] - start) / NS,
                "filled_frames": {name: frames for name, frames in filled.items() if frames},
            }
        )
    dropped = [[(first - start) / NS, (last - start) / NS] for first, last in a.fragments]
    return {"bag": str(report.bag), "fps": report.fps, "episodes": episodes, "dropped_pieces_s": dropped}


def write_report(report: EpisodeReport, folder: Path, note: str = "") -> tuple[Path, Path]:
    """Write `episode_XXXXXX.txt` (with ``note``, see report_text), `.png` and `.json` into ``folder``, named
    by the bag's first episode; return the text's and the image's paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"episode_{report.episode_index:06d}"
    text, image = stem.with_suffix(".txt"), stem.with_suffix(".png")
    text.write_text(report_text(report, note))
    stem.with_suffix(".json").write_text(json.dumps(report_json(report), indent=1))
    report_plot(report, image)
    return text, image
