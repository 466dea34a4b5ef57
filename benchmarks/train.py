"""Training throughput of ACT (lerobot defaults, one 240×320 camera, batch 8) on this machine (figures only).

Measured in one run on a synthetic dataset written first:
- loader: samples/s of the training DataLoader alone (video decoding, windows, collation, worker processes);
- full step: median steps/s of the training loop (next batch → preprocessor → forward/backward/step);
- model-only step: the same update (median, alternated with full steps) on one batch already on the device.
Goal: the loader is never the bottleneck, i.e. loader samples/s well above full-step samples/s, and the
model-only step within 10 % of the full step.

    python benchmarks/train.py [--steps 10] [--num_workers 2] [--device cpu|cuda] [--use_amp]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from lerobot_dataset import DatasetWriter
from lerobot_dataset.torch_dataset import LeRobotTorchDataset
from lerobot_training.data import LoaderSettings, delta_timestamps_for, make_train_loader
from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors
from lerobot_training.run_state import Precision
from lerobot_training.train import train_step

HEIGHT, WIDTH, FPS = 240, 320, 30


def write_dataset(root: Path, episodes: int, length: int) -> Path:
    features = {
        "observation.state": {"dtype": "float32", "shape": [6], "names": None},
        "observation.images.front": {
            "dtype": "video",
            "shape": [HEIGHT, WIDTH, 3],
            "names": ["height", "width", "channels"],
        },
        "action": {"dtype": "float32", "shape": [6], "names": None},
    }
    rng = np.random.default_rng(0)
    texture = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    with DatasetWriter.create(root, fps=FPS, features=features) as writer:
        for _ in range(episodes):
            for t in range(length):
                state = np.sin(np.arange(6) + 0.05 * t).astype(np.float32)
                image = np.roll(texture, 4 * t, axis=1)  # moving content: realistic decoding cost
                frame = {"observation.state": state, "action": state, "observation.images.front": image}
                writer.add_frame(frame, task="benchmark")
            writer.save_episode()
    return root


def interleaved(functions: dict[str, object], repeats: int) -> dict[str, float]:
    """Median seconds per call of each function, calls alternated so that load drifts on a shared machine hit
    all of them alike (one warm-up call each first)."""
    times: dict[str, list[float]] = {name: [] for name in functions}
    for function in functions.values():
        function()
    for _ in range(repeats):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=10, help="timed steps per measurement")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--num_workers", type=int, default=min(4, os.cpu_count() or 1))
    parser.add_argument("--device", default=None, help="default: the best device here")
    parser.add_argument("--use_amp", action="store_true")
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--episode_length", type=int, default=150)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        root = write_dataset(Path(tmp) / "dataset", args.episodes, args.episode_length)
        print(
            f"dataset: {args.episodes}×{args.episode_length} frames {WIDTH}×{HEIGHT} written in "
            f"{time.perf_counter() - started:.1f} s"
        )
        # No ImageNet download (offline machines): the backbone's initial weights do not change its speed.
        config = make_policy_config("act", device=args.device, pretrained_backbone_weights=None)
        device = torch.device(config.device)
        dataset = LeRobotTorchDataset(root, delta_timestamps=delta_timestamps_for(config, ["action"], FPS))
        torch.manual_seed(0)
        policy = make_policy(config, dataset.features)
        preprocessor, _ = make_pre_post_processors(config, dataset.stats)
        optimizer = config.make_optimizer(policy.get_optim_params())
        precision = Precision.choose(args.use_amp, device)
        settings = LoaderSettings(args.batch_size, args.num_workers, 0, pin_memory=device.type == "cuda")
        episodes = list(range(args.episodes))
        batches = iter(make_train_loader(dataset, episodes, 0, None, settings))
        params = sum(p.numel() for p in policy.parameters()) / 1e6
        print(
            f"ACT {params:.1f} M parameters on {device}, batch {args.batch_size}, "
            f"{args.num_workers} loader workers, amp {precision.enabled}, "
            f"torch threads {torch.get_num_threads()}"
        )

        def sync() -> None:
            if device.type == "cuda":
                torch.cuda.synchronize()

        def full_step() -> None:
            train_step(policy, preprocessor(next(batches)), optimizer, None, 10.0, precision)
            sync()

        fixed = preprocessor(next(batches))

        def model_step() -> None:
            train_step(policy, fixed, optimizer, None, 10.0, precision)
            sync()

        seconds = interleaved({"full": full_step, "model": model_step}, args.steps)
        full, model = seconds["full"], seconds["model"]
        loader_batches = iter(make_train_loader(dataset, episodes, 0, None, settings))
        next(loader_batches)  # workers started
        started = time.perf_counter()
        count = max(args.steps, 3 * args.num_workers)
        for _ in range(count):
            next(loader_batches)
        loader = (time.perf_counter() - started) / count

    samples_needed = args.batch_size / full
    print(
        f"full step:        {1 / full:8.2f} steps/s  ({full * 1e3:8.1f} ms, {samples_needed:8.1f} samples/s)"
    )
    print(f"model-only step:  {1 / model:8.2f} steps/s  ({model * 1e3:8.1f} ms)")
    print(f"loader alone:     {args.batch_size / loader:8.1f} samples/s ({loader * 1e3:8.1f} ms per batch)")
    print(f"model-only / full step time:         {model / full:6.3f}  (goal ≥ 0.90)")
    print(
        f"loader samples/s / training samples/s: {full / loader:6.2f}  (goal > 1: loader not the bottleneck)"
    )


if __name__ == "__main__":
    main()
