"""Per-episode sync report of a bag conversion: a text table and a PNG of stream latencies and gaps."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lerobot_recorder.streams import EpisodeReport
from lerobot_recorder.sync import NS


def latency_ms(stream) -> np.ndarray:
    """Receive time minus stamp per sample (0 for streams stamped with the receive time)."""
    return (stream.receive_times - stream.times) / 1e6


def report_text(report: EpisodeReport, note: str = "") -> str:
    """The report's table and problems; ``note``: what was salvaged of a bag that was never closed."""
    a = report.alignment
    duration = report.frames / report.fps
    lines = [
        f"episode {report.episode_index} <- {report.bag}",
        f"frames: {report.frames} kept of {a.grid_frames} on the {report.fps} fps grid ({duration:.2f} s); "
        f"trimmed {a.trimmed_start_s:.3f} s at the start and {a.trimmed_end_s:.3f} s at the end",
        "",
        f"{'feature':28} {'topic':26} {'samples':>7} {'rate Hz':>8} {'latency ms p50/p99':>19} "
        f"{'out of order':>12} {'gaps':>5} {'dropped':>7} {'stale':>6}",
    ]
    for name, stream in report.streams.items():
        span = (stream.times[-1] - stream.times[0]) / NS
        rate = (len(stream.times) - 1) / span if span > 0 else 0.0
        p50, p99 = np.percentile(latency_ms(stream), [50, 99])
        lines.append(
            f"{name:28} {stream.source.topic:26} {len(stream.times):7d} {rate:8.1f} {p50:9.1f}/{p99:<9.1f} "
            f"{stream.out_of_order:12d} {len(a.gaps.get(name, [])):5d} {len(a.dropped.get(name, [])):7d} "
            f"{len(a.stale.get(name, [])):6d}"
        )
    start = min(int(s.times[0]) for s in report.streams.values())
    problems = []
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
    axes[-1].set_xlabel(f"seconds since the first message ({kept} frames kept; red: gaps, orange: drops)")
    figure.suptitle(f"episode {report.episode_index}: receive latency per stream", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=80)


def write_report(report: EpisodeReport, folder: Path, note: str = "") -> tuple[Path, Path]:
    """Write `episode_XXXXXX.txt` (with ``note``, see report_text) and `.png` into ``folder``; return their
    paths."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"episode_{report.episode_index:06d}"
    text, image = stem.with_suffix(".txt"), stem.with_suffix(".png")
    text.write_text(report_text(report, note))
    report_plot(report, image)
    return text, image
