"""``lerobot-ros-train`` (also ``ros2 run lerobot_training train``): lerobot's dotted options, e.g.

    lerobot-ros-train --policy.type=act --dataset.root=data/pick --output_dir=outputs/act --steps=20000
    torchrun --nproc_per_node=2 $(which lerobot-ros-train) --config run.yaml
    lerobot-ros-train --output_dir=outputs/act --resume=true --steps=40000
    lerobot-ros-train --policy.path=lerobot/pi0_base --dataset.root=data/pick --output_dir=outputs/pi0

Exit status 2 for a configuration or input problem (the message says what to change).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lerobot_dataset import DatasetError
from lerobot_training.checkpoint import (
    CHECKPOINTS_DIR,
    LAST_CHECKPOINT_LINK,
    PRETRAINED_MODEL_DIR,
    TRAIN_CONFIG_NAME,
    CheckpointError,
)
from lerobot_training.data import error_message
from lerobot_training.features import FeatureError
from lerobot_training.normalization import StatsError
from lerobot_training.options import OptionError, coerce, load_config_file, merge, nest, parse_dotted_args
from lerobot_training.policies import POLICY_TYPES
from lerobot_training.policies.base import ConfigError
from lerobot_training.policies.vision import BackboneWeightsError
from lerobot_training.processor import ProcessorError
from lerobot_training.train import TrainingError, train
from lerobot_training.train_config import TrainConfig

PROG = "lerobot-ros-train"
CONFIG_FILE_OPTIONS = ("config", "config_path")
INPUT_ERRORS = (
    OptionError,
    ConfigError,
    FeatureError,
    StatsError,
    CheckpointError,
    TrainingError,
    DatasetError,
    ProcessorError,
    BackboneWeightsError,
)

HELP = f"""usage: {PROG} --policy.type={{{",".join(POLICY_TYPES)}}} --dataset.root=DIR --output_dir=DIR
       [--key=value ...]
       {PROG} --policy.path=DIR_OR_HUB_ID --dataset.root=DIR --output_dir=DIR [--key=value ...]

Train a policy on a LeRobot dataset; checkpoints in lerobot's layout under OUTPUT_DIR/checkpoints/.
Options (lerobot names; also from a JSON/YAML file with --config PATH, command line wins):
  --dataset.root, --dataset.episodes=[0,1,2], --dataset.image_transforms.enable=true
  (and .brightness=[0.8,1.2], .contrast, .saturation, .hue, .sharpness, .max_num_transforms, .random_order)
  --policy.type, --policy.<any key of that policy's config.json>
  (e.g. --policy.chunk_size=50, --policy.device=cpu)
  act and diffusion start from lerobot's default ImageNet ResNet-18 backbone
  (--policy.pretrained_backbone_weights=ResNet18_Weights.IMAGENET1K_V1, downloaded once by torchvision
  into $TORCH_HOME/hub/checkpoints/); offline, copy it there, or start from a random backbone with
  --policy.pretrained_backbone_weights=null
  --output_dir, --job_name, --seed, --steps, --batch_size (per process), --num_workers, --log_freq,
  --save_freq, --save_checkpoint, --use_amp (CUDA only), --grad_clip_norm
  (a policy with its own preset, e.g. pi0, clips at --policy.optimizer_grad_clip_norm instead)
  --policy.path=DIR_OR_HUB_ID: fine-tune a pretrained checkpoint (a pretrained_model directory or a Hub
  repo id such as lerobot/pi0_base): its config.json is the base policy config (--policy.type optional,
  --policy.<key> overrides it, e.g. --policy.use_peft=true), its features are refit to the dataset (pi0
  pads state/action and takes the dataset's cameras in order; act/diffusion need the same features), its
  weights are loaded strictly and normalization statistics come from the dataset
  --resume=true: continue OUTPUT_DIR/checkpoints/last exactly (its train_config.json is the base config)
Several GPUs or machines: run the same command under torchrun.
"""


def user_args(argv: Sequence[str]) -> list[str]:
    """Arguments before ``--ros-args`` (``ros2 run`` appends ROS's own)."""
    args = list(argv)
    return args[: args.index("--ros-args")] if "--ros-args" in args else args


def resolve_config(argv: Sequence[str]) -> TrainConfig:
    """The run's config: a config file (or, when resuming without one, the checkpoint's train_config.json),
    then the command-line options on top."""
    flat = parse_dotted_args(argv)
    config_file = next((flat.pop(key) for key in CONFIG_FILE_OPTIONS if key in flat), None)
    overrides = nest(flat)
    base: dict[str, Any] = load_config_file(config_file) if config_file else {}
    merged = merge(base, overrides)
    if config_file is None and coerce(merged.get("resume", False), bool, "resume"):
        if "output_dir" not in merged:
            raise OptionError("--resume=true needs --output_dir (the run to continue)")
        saved = (
            Path(merged["output_dir"]).expanduser()
            / CHECKPOINTS_DIR
            / LAST_CHECKPOINT_LINK
            / PRETRAINED_MODEL_DIR
            / TRAIN_CONFIG_NAME
        )
        if not saved.is_file():
            raise TrainingError(f"--resume=true but {saved} does not exist: nothing to resume")
        merged = merge(load_config_file(saved), overrides)
    return TrainConfig.from_dict(merged)


def main(argv: Sequence[str] | None = None) -> int:
    args = user_args(sys.argv[1:] if argv is None else argv)
    if not args or any(arg in ("-h", "--help") for arg in args):
        print(HELP)
        return 0 if args else 2
    try:
        result = train(resolve_config(args))
    except INPUT_ERRORS as err:
        print(f"{PROG}: error: {error_message(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; continue with --resume=true from the last checkpoint", file=sys.stderr)
        return 130
    where = f"; checkpoint {result.checkpoint}" if result.checkpoint else ""
    print(f"trained {result.steps} steps, final loss {result.final_loss:.5f}{where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
