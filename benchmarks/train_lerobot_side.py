"""lerobot's side of benchmarks/train.py, run in the lerobot venv (.venv-lerobot): lerobot 0.6's own
``lerobot_train.train`` on the benchmark's dataset, paced by the benchmark (see ``StepPacer`` in train.py:
the same JSON-lines protocol on stdout/stdin).

    .venv-lerobot/bin/python benchmarks/train_lerobot_side.py '{"policy": "act", "root": ..., ...}'

Only ``update_policy`` is wrapped (to time and pace steps); the dataset, sampler, DataLoader (lerobot's
defaults: spawn, prefetch 4), preprocessor and loop are lerobot's. The benchmark never imports this file.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import lerobot.scripts.lerobot_train as lerobot_train
from lerobot.configs.default import DatasetConfig
from lerobot.configs.train import TrainPipelineConfig
from lerobot.policies.act.configuration_act import ACTConfig
from lerobot.policies.diffusion.configuration_diffusion import DiffusionConfig

CONFIGS = {"act": ACTConfig, "diffusion": DiffusionConfig}


def main() -> None:
    plan = json.loads(sys.argv[1])
    policy = CONFIGS[plan["policy"]](device="cpu", pretrained_backbone_weights=None, push_to_hub=False)
    config = TrainPipelineConfig(
        dataset=DatasetConfig(repo_id="benchmark/train", root=plan["root"]),
        policy=policy,
        output_dir=Path(plan["output_dir"]),
        seed=plan["seed"],
        num_workers=plan["num_workers"],
        batch_size=plan["batch_size"],
        steps=plan["steps"],
        log_freq=10**9,
        save_checkpoint=False,
    )
    update_policy = lerobot_train.update_policy
    state = {"last": time.perf_counter(), "done": 0}

    def paced_update(train_metrics, *args, **kwargs):
        fetched = time.perf_counter()
        result = update_policy(train_metrics, *args, **kwargs)
        now = time.perf_counter()
        state["done"] += 1
        report = {"step": state["done"], "seconds": now - state["last"], "data": fetched - state["last"]}
        print(json.dumps({**report, "loss": float(train_metrics.loss.val)}), flush=True)
        if sys.stdin.readline().strip() == "stop":
            sys.exit(0)
        state["last"] = time.perf_counter()
        return result

    lerobot_train.update_policy = paced_update
    lerobot_train.train(config)


if __name__ == "__main__":
    main()
