"""Inference latency per action chunk of ACT and Diffusion Policy with lerobot's default settings
(figures only, no asserts).

Inputs as a typical arm: ``observation.state`` (6,), one 240×320 camera, ``action`` (6,); randomly initialised
weights (latency does not depend on their values). Timed: ``predict_action_chunk`` on a preprocessed batch
(what a policy node does once per chunk), plus the pre/post-processing around it. Diffusion is timed with its
default DDPM (100 denoising steps) and with DDIM at 10 steps (``noise_scheduler_type=DDIM``,
``num_inference_steps=10``).

    python benchmarks/policy_inference.py [--repeats 5] [--threads N] [--device cpu|cuda] [--skip-ddpm]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from lerobot_training.policies import make_policy, make_policy_config, make_pre_post_processors

FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [6], "names": None},
    "observation.images.front": {
        "dtype": "video",
        "shape": [240, 320, 3],
        "names": ["height", "width", "channels"],
    },
    "action": {"dtype": "float32", "shape": [6], "names": None},
}


def unit_stats() -> dict[str, dict[str, list]]:
    stats = {}
    for key, spec in FEATURES.items():
        size = 3 if spec["dtype"] == "video" else spec["shape"][0]
        shape = (size, 1, 1) if spec["dtype"] == "video" else (size,)
        stats[key] = {
            name: torch.full(shape, value).tolist()
            for name, value in (("mean", 0.5), ("std", 0.25), ("min", 0.0), ("max", 1.0))
        }
    return stats


def timed(function: Callable[[], object], repeats: int, device: str) -> list[float]:
    """Wall-clock seconds of each call, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        function()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return times


def run(name: str, policy_type: str, options: dict, repeats: int, device: str) -> None:
    # No ImageNet download (offline machines): the backbone's initial weights do not change its speed.
    options = {"pretrained_backbone_weights": None, **options}
    config = make_policy_config(policy_type, device=device, **options)
    policy = make_policy(config, FEATURES).eval()
    preprocessor, postprocessor = make_pre_post_processors(config, unit_stats())
    observation = {"observation.state": torch.rand(6), "observation.images.front": torch.rand(3, 240, 320)}
    batch = preprocessor(observation)
    if policy_type == "diffusion":  # the policy plans from n_obs_steps frames of history
        batch = {key: torch.stack([value] * config.n_obs_steps, dim=1) for key, value in batch.items()}
    chunk = policy.predict_action_chunk(batch)

    def process() -> None:
        preprocessor(observation)
        postprocessor(chunk)

    model_times = timed(lambda: policy.predict_action_chunk(batch), repeats, device)
    processing_times = timed(process, repeats, device)
    median = statistics.median(model_times)
    processing = statistics.median(processing_times)
    parameters = sum(p.numel() for p in policy.parameters()) / 1e6
    print(
        f"{name:<24} {parameters:7.1f} M  {chunk.shape[1]:4d} actions  "
        f"median {median * 1e3:9.1f} ms/chunk  (min {min(model_times) * 1e3:9.1f}, n={repeats})  "
        f"{median * 1e3 / chunk.shape[1]:7.2f} ms/action  pre+post {processing * 1e3:5.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per configuration")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-ddpm", action="store_true", help="skip the slow 100-step DDPM configuration")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(
        f"torch {torch.__version__}, device {args.device}, {torch.get_num_threads()} CPU threads; "
        "state (6,), one 3×240×320 camera, action (6,)"
    )
    with torch.inference_mode():
        run("ACT (defaults)", "act", {}, args.repeats, args.device)
        run(
            "Diffusion DDIM-10",
            "diffusion",
            {"noise_scheduler_type": "DDIM", "num_inference_steps": 10},
            args.repeats,
            args.device,
        )
        if not args.skip_ddpm:
            run("Diffusion DDPM-100", "diffusion", {}, max(1, args.repeats // 2), args.device)


if __name__ == "__main__":
    main()
