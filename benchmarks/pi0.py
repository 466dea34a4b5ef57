"""π₀: parameter count of the full-size model (built on the meta device: no memory, no weights) and
per-chunk latency of a small configuration, KV-cached sampler vs the uncached reference (figures only, no
asserts).

The small model is the ``dummy`` backbone (2 layers, width 64, SigLIP 2×32) with the ``dummy_expert``;
the sequence is real size: 224×224 cameras (256 tokens each), 48 language tokens, 50 actions, 10 Euler steps.
Random weights (latency does not depend on their values). The cached sampler runs the prefix once per chunk
and only the suffix per step; the uncached one runs prefix + suffix every step.

    python benchmarks/pi0.py [--repeats 5] [--threads N] [--cameras 1] [--device cpu|cuda]
        [--full-size] [--dtype float32|bfloat16]   (--full-size: gemma_2b + gemma_300m, needs a GPU)
"""

from __future__ import annotations

import argparse
import statistics

import torch
from policy_inference import timed  # benchmarks/ is on sys.path when a benchmark runs

from lerobot_training.policies import make_policy_config
from lerobot_training.policies.pi0 import PI0Policy


def features(cameras: int) -> tuple[dict, dict]:
    inputs = {"observation.state": {"type": "STATE", "shape": [6]}}
    for index in range(cameras):
        inputs[f"observation.images.cam{index}"] = {"type": "VISUAL", "shape": [3, 224, 224]}
    return inputs, {"action": {"type": "ACTION", "shape": [6]}}


def count_full_size() -> None:
    inputs, outputs = features(3)
    config = make_policy_config("pi0", device="cpu", input_features=inputs, output_features=outputs)
    with torch.device("meta"):
        policy = PI0Policy(config)
    unique = sum(p.numel() for p in policy.parameters())
    with_tied = sum(t.numel() for t in policy.state_dict().values())
    model = policy.model.paligemma_with_expert
    parts = {
        "vision tower (SigLIP So400m/14)": model.paligemma.model.vision_tower,
        "language model (Gemma 2B, embeddings incl.)": model.backbone,
        "action expert (Gemma 300M, layers + norm)": model.expert,
        "expert lm_head (unused, kept for lerobot's file)": model.gemma_expert.lm_head,
    }
    print(
        f"full-size π₀ (gemma_2b + gemma_300m): {unique / 1e9:.3f} B parameters, "
        f"{with_tied / 1e9:.3f} B tensor elements in the state dict (tied lm_head counted twice)"
    )
    for name, module in parts.items():
        print(f"  {name:50s} {sum(p.numel() for p in module.parameters()) / 1e6:9.1f} M")


def latency(args: argparse.Namespace) -> None:
    inputs, outputs = features(args.cameras)
    variants = (
        {} if args.full_size else {"paligemma_variant": "dummy", "action_expert_variant": "dummy_expert"}
    )
    config = make_policy_config(
        "pi0",
        device=args.device,
        dtype=args.dtype,
        input_features=inputs,
        output_features=outputs,
        **variants,
    )
    policy = PI0Policy(config).to(args.device).eval()
    vocab = config.vocab_size
    generator = torch.Generator().manual_seed(0)
    batch = {
        "observation.state": torch.rand(1, 6, generator=generator),
        "observation.language.tokens": torch.randint(vocab, (1, 48), generator=generator),
        "observation.language.attention_mask": torch.arange(48)[None] < 12,  # a 12-token task, padded
    }
    for key in inputs:
        if key.startswith("observation.images"):
            batch[key] = torch.rand(1, 3, 224, 224, generator=generator)
    batch = {key: value.to(args.device) for key, value in batch.items()}
    noise = torch.randn(1, config.chunk_size, config.max_action_dim, generator=generator).to(args.device)
    parameters = sum(p.numel() for p in policy.parameters()) / 1e6
    prefix_tokens = 256 * args.cameras + 48
    size = "full-size" if args.full_size else "dummy"
    print(
        f"\nlatency per chunk, {size} π₀ ({parameters:.2f} M parameters), "
        f"{args.device}, {args.dtype}, {torch.get_num_threads()} thread(s): {args.cameras} camera(s) → "
        f"{prefix_tokens} prefix tokens, suffix 1 + {config.chunk_size}, {config.num_inference_steps} steps"
    )
    results = {}
    with torch.no_grad():
        for name, use_cache in (("cached", True), ("uncached", False)):
            breakdown = []

            def run(use_cache: bool = use_cache, breakdown: list = breakdown) -> None:
                policy.sample_actions(batch, noise, use_cache=use_cache)
                breakdown.append(dict(policy.last_latency))

            results[name] = statistics.median(timed(run, args.repeats, args.device))
            parts = {key: statistics.median(b[key] for b in breakdown[1:]) for key in breakdown[0]}
            print(
                f"  {name:9s} {results[name] * 1e3:8.1f} ms/chunk  (vision {parts['vision_ms']:.1f} ms, "
                f"prefix {parts['prefix_ms']:.1f} ms, denoise {parts['denoise_ms']:.1f} ms)"
            )
    print(f"  uncached / cached: {results['uncached'] / results['cached']:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--cameras", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"))
    parser.add_argument("--full-size", action="store_true")
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    count_full_size()
    latency(args)


if __name__ == "__main__":
    main()
