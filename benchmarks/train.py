"""Training speed of the suite beside the real lerobot 0.6 (``.venv-lerobot``, made by ``make setup``), for
ACT and Diffusion with lerobot's default configs, one 240×320 camera, batch 8, 2 loader workers, on the CPU.

One synthetic dataset is written first; each side then trains on it in its own process with its own training
loop (the suite's ``lerobot_training.train.train``, lerobot's ``lerobot_train.train``), only the update
function wrapped to time and pace steps. The two sides take turns in blocks of steps, the one waiting frozen
with SIGSTOP (its loader workers too, so it neither steals CPU nor prefetches for free), so that load drifts
on a shared machine hit both alike. Reported per side:
- start-up: launch → first step done (imports, dataset, model, loader workers, first batch);
- steps/s: 1 / the median of the steady-state step times (``data`` → the next batch and preprocessing, the
  rest the update); data ≈ 0 means the loader is not the bottleneck;
- the ratio suite / lerobot of steps/s (goal ≥ 1.2).

    python benchmarks/train.py [--policy act|diffusion|both] [--steps 12] [--block 4] [--num_workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import numpy as np

HEIGHT, WIDTH, FPS = 240, 320, 30
ROOT = Path(__file__).resolve().parents[1]
LEROBOT_PYTHON = ROOT / ".venv-lerobot" / "bin" / "python"
LEROBOT_SIDE = Path(__file__).with_name("train_lerobot_side.py")
REPORT = '{"step"'  # the start of a step report line; other stdout lines (logs) are skipped


def write_dataset(root: Path, episodes: int, length: int) -> Path:
    from lerobot_dataset import DatasetWriter

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


def suite_side(plan: dict[str, Any]) -> None:
    """The suite's side (run as ``train.py --side '<plan>'``): ``lerobot_training.train.train`` with its
    ``train_step`` wrapped to report each step on stdout and wait for a line on stdin before the next."""
    import lerobot_training.train as training
    from lerobot_training.train_config import DatasetConfig, TrainConfig

    config = TrainConfig(
        dataset=DatasetConfig(root=plan["root"]),
        policy={"type": plan["policy"], "device": "cpu", "pretrained_backbone_weights": None},
        output_dir=plan["output_dir"],
        seed=plan["seed"],
        num_workers=plan["num_workers"],
        batch_size=plan["batch_size"],
        steps=plan["steps"],
        log_freq=10**9,
        save_checkpoint=False,
    )
    train_step = training.train_step
    state = {"last": time.perf_counter(), "done": 0}

    def paced_step(*args: Any, **kwargs: Any) -> tuple[float, float]:
        fetched = time.perf_counter()
        loss, grad_norm = train_step(*args, **kwargs)
        now = time.perf_counter()
        state["done"] += 1
        report = {"step": state["done"], "seconds": now - state["last"], "data": fetched - state["last"]}
        print(json.dumps({**report, "loss": loss}), flush=True)
        if sys.stdin.readline().strip() == "stop":
            sys.exit(0)
        state["last"] = time.perf_counter()
        return loss, grad_norm

    training.train_step = paced_step
    training.train(config)


class Side:
    """One side's training process, in its own process group (frozen and thawed as a whole)."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], log: IO[str]) -> None:
        self.name, self.log = name, log
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env,
            start_new_session=True,
        )  # fmt: skip
        self.steps: list[dict[str, float]] = []

    def report(self) -> dict[str, float]:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if line.startswith(REPORT):
                return json.loads(line)
        self.log.flush()
        tail = Path(self.log.name).read_text()[-4000:]
        raise RuntimeError(f"{self.name} ended (exit {self.process.wait()}) before reporting a step:\n{tail}")

    def run(self, count: int, keep: bool = True) -> None:
        """Thaw, train ``count`` steps, freeze again."""
        assert self.process.stdin is not None
        os.killpg(self.process.pid, signal.SIGCONT)
        for _ in range(count):
            self.process.stdin.write("go\n")
            self.process.stdin.flush()
            step = self.report()
            if keep:
                self.steps.append(step)
        os.killpg(self.process.pid, signal.SIGSTOP)

    def start(self) -> float:
        """Seconds from launch to the end of the first step; the process is left frozen."""
        self.report()
        startup = time.perf_counter() - self.started
        os.killpg(self.process.pid, signal.SIGSTOP)
        return startup

    def close(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def summary(self) -> tuple[float, float, float]:
        """(median step seconds, median data seconds, mean loss): the loss says both learn alike."""
        return (
            statistics.median(s["seconds"] for s in self.steps),
            statistics.median(s.get("data", float("nan")) for s in self.steps),
            statistics.fmean(s["loss"] for s in self.steps),
        )


def lerobot_env() -> dict[str, str]:
    """lerobot's process: offline, without the suite venv's paths (as test/interop does)."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "AMENT_PREFIX_PATH")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    env["PATH"] = f"{LEROBOT_PYTHON.parent}:{env.get('PATH', '')}"
    return env


def compare(policy: str, root: Path, work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Start-up and steady-state step times of both sides for ``policy``, steps interleaved in blocks."""
    total = args.warmup + args.steps + 1
    plan = {
        "policy": policy,
        "root": str(root),
        "seed": 1000,
        "num_workers": args.num_workers,
        "batch_size": args.batch_size,
        "steps": total + 1,
    }
    commands = {
        "suite": ([sys.executable, __file__, "--side"], dict(os.environ)),
        "lerobot": ([str(LEROBOT_PYTHON), str(LEROBOT_SIDE)], lerobot_env()),
    }
    if args.suite_only:
        del commands["lerobot"]
    sides: dict[str, Side] = {}
    startup: dict[str, float] = {}
    try:
        for name, (command, env) in commands.items():  # one at a time: start-up is timed alone
            side_plan = {**plan, "output_dir": str(work / f"{policy}_{name}")}
            log = open(work / f"{policy}_{name}.log", "w")  # noqa: SIM115 (closed with the side)
            sides[name] = Side(name, [*command, json.dumps(side_plan)], env, log)
            startup[name] = sides[name].start()
            sides[name].run(args.warmup, keep=False)
        names = list(sides)
        done = 0
        while done < args.steps:
            count = min(args.block, args.steps - done)
            for name in names:
                sides[name].run(count)
            names.reverse()  # who goes first alternates
            done += count
    finally:
        for side in sides.values():
            side.close()
            side.log.close()
    return {name: (startup[name], *side.summary()) for name, side in sides.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", help=argparse.SUPPRESS)  # internal: run the suite's side with this plan
    parser.add_argument("--policy", choices=["act", "diffusion", "both"], default="both")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per side and policy")
    parser.add_argument("--block", type=int, default=4, help="steps a side trains before the other's turn")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps after the first")
    parser.add_argument("--batch_size", type=int, default=8)
    parser.add_argument("--num_workers", type=int, default=2)
    parser.add_argument("--episodes", type=int, default=4)
    parser.add_argument("--episode_length", type=int, default=150)
    parser.add_argument("--suite_only", action="store_true", help="without lerobot (profiling the suite)")
    args = parser.parse_args()
    if args.side is not None:
        suite_side(json.loads(args.side))
        return
    if not args.suite_only and not LEROBOT_PYTHON.exists():
        sys.exit(f"{LEROBOT_PYTHON} is missing: run `make setup` (it creates the lerobot venv)")

    policies = ["act", "diffusion"] if args.policy == "both" else [args.policy]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        root = write_dataset(work / "dataset", args.episodes, args.episode_length)
        print(
            f"dataset: {args.episodes}×{args.episode_length} frames {WIDTH}×{HEIGHT} written in "
            f"{time.perf_counter() - started:.1f} s; batch {args.batch_size}, {args.num_workers} loader "
            f"workers, {os.cpu_count()} CPUs, {args.steps} timed steps per side (blocks of {args.block})"
        )
        for policy in policies:
            results = compare(policy, root, work, args)
            for name, (startup, step, data, loss) in results.items():
                print(
                    f"{policy:9s} {name:7s}: {1 / step:6.3f} steps/s ({step:6.2f} s a step, "
                    f"data {data:5.2f} s), start-up {startup:5.1f} s, mean loss {loss:.3f}"
                )
            if "lerobot" in results:
                ratio = results["lerobot"][1] / results["suite"][1]
                print(f"{policy:9s} suite / lerobot steps/s: {ratio:5.2f}  (goal ≥ 1.2)")


if __name__ == "__main__":
    main()
