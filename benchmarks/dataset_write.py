"""Write throughput of lerobot_dataset's DatasetWriter against a bare PyAV encode of the same frames.

Scenario: 2 cameras at 640x480 plus 6-dim state and action, one episode of --frames frames. Each side runs in
its own fresh process (so peak memory is its own), same codec settings, same synthetic frames; the script
prints frames/s (one frame = one time step, i.e. one picture per camera), the ratio, and each side's peak
resident memory. Nothing is asserted: numbers depend on the machine.

    python benchmarks/dataset_write.py --frames 1000
    python benchmarks/dataset_write.py --frames 200 --codec h264
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

if importlib.util.find_spec("lerobot_dataset") is None:  # not installed: use the source tree
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src" / "lerobot_dataset"))

POOL = 48  # distinct synthetic frames per camera, cycled (keeps generation out of the timing)


def frame_pool(camera: int, height: int, width: int) -> list[np.ndarray]:
    """Camera-like pictures: smooth gradients, moving shapes, sensor noise."""
    rng = np.random.default_rng(camera)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for k in range(POOL):
        image = np.empty((height, width, 3), np.float32)
        image[..., 0] = 120 + 80 * np.sin(xx / 90 + k / 10 + camera)
        image[..., 1] = 100 + 60 * np.cos(yy / 70 - k / 15)
        image[..., 2] = 90 + 0.2 * (xx + yy)
        x0, y0 = int(40 + 6 * k) % (width - 120), int(30 + 4 * k) % (height - 90)
        image[y0 : y0 + 90, x0 : x0 + 120] = (200, 60, 40)
        image += rng.normal(0, 3, image.shape)
        frames.append(np.clip(image, 0, 255).astype(np.uint8))
    return frames


def config_for(codec: str):
    from lerobot_dataset import VideoEncoderConfig

    return VideoEncoderConfig.h264() if codec == "h264" else VideoEncoderConfig()


def run_bare(frames: int, height: int, width: int, codec: str, out: Path) -> float:
    """The minimum any writer must do: encode both cameras with PyAV, one after the other."""
    import av

    config = config_for(codec)
    pools = [frame_pool(c, height, width) for c in range(2)]
    containers, streams = [], []
    for c in range(2):
        container = av.open(str(out / f"bare{c}.mp4"), "w")
        stream = container.add_stream(config.encoder, rate=30, options=config.options())
        stream.width, stream.height, stream.pix_fmt = width, height, config.pix_fmt
        stream.time_base = Fraction(1, 30)
        containers.append(container)
        streams.append(stream)
    start = time.perf_counter()
    for i in range(frames):
        for c in range(2):
            picture = av.VideoFrame.from_ndarray(pools[c][i % POOL], format="rgb24")
            picture.pts = i
            for packet in streams[c].encode(picture):
                containers[c].mux(packet)
    for c in range(2):
        for packet in streams[c].encode():
            containers[c].mux(packet)
        containers[c].close()
    return time.perf_counter() - start


def run_ours(frames: int, height: int, width: int, codec: str, out: Path) -> float:
    from lerobot_dataset import DatasetWriter

    pools = [frame_pool(c, height, width) for c in range(2)]
    features = {
        "observation.state": {"dtype": "float32", "shape": [6], "names": [f"j{i}" for i in range(6)]},
        "action": {"dtype": "float32", "shape": [6], "names": [f"j{i}" for i in range(6)]},
        "observation.images.front": {"dtype": "video", "shape": [height, width, 3]},
        "observation.images.wrist": {"dtype": "video", "shape": [height, width, 3]},
    }
    rng = np.random.default_rng(0)
    states = rng.normal(size=(frames, 6)).astype(np.float32)
    start = time.perf_counter()
    with DatasetWriter.create(
        out / "dataset", fps=30, features=features, robot_type="bench", video=config_for(codec)
    ) as writer:
        for i in range(frames):
            writer.add_frame(
                {
                    "observation.state": states[i],
                    "action": states[i] * 0.5,
                    "observation.images.front": pools[0][i % POOL],
                    "observation.images.wrist": pools[1][i % POOL],
                },
                task="benchmark",
            )
        writer.save_episode()
    return time.perf_counter() - start


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def child(mode: str, frames: int, height: int, width: int, codec: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cpu = _cpu_seconds()  # includes building the frame pool, the same on both sides
        seconds = (run_bare if mode == "bare" else run_ours)(frames, height, width, codec, Path(tmp))
        cpu = _cpu_seconds() - cpu
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "cpu_s": cpu, "peak_mib": peak_kib / 1024}))


def measure(mode: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        __file__,
        "--child",
        mode,
        "--frames",
        str(args.frames),
        "--height",
        str(args.height),
        "--width",
        str(args.width),
        "--codec",
        args.codec,
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--frames", type=int, default=1000, help="frames (time steps) to write (default 1000)"
    )
    parser.add_argument("--height", type=int, default=480)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--codec", choices=("av1", "h264"), default="av1", help="av1 = libsvtav1 (default)")
    parser.add_argument("--repeat", type=int, default=1, help="alternate runs per side; the best is kept")
    parser.add_argument("--child", choices=("bare", "ours"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.frames, args.height, args.width, args.codec)
        return
    results: dict[str, list[dict]] = {"bare": [], "ours": []}
    for _ in range(args.repeat):
        for mode in ("bare", "ours"):
            results[mode].append(measure(mode, args))
    best = {mode: min(runs, key=lambda r: r["seconds"]) for mode, runs in results.items()}
    fps = {mode: args.frames / best[mode]["seconds"] for mode in best}
    print(
        f"{args.frames} frames, 2 cameras {args.width}x{args.height} + 6-dim state/action, codec {args.codec}"
    )
    print(f"bare PyAV encode : {fps['bare']:8.1f} frames/s  peak {best['bare']['peak_mib']:7.0f} MiB")
    print(f"DatasetWriter    : {fps['ours']:8.1f} frames/s  peak {best['ours']['peak_mib']:7.0f} MiB")
    print(f"ratio (ours/bare): {fps['ours'] / fps['bare']:.2f}")


if __name__ == "__main__":
    main()
