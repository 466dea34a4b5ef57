"""LoRA fine-tuning of π₀ through ``peft`` (lerobot's ``use_peft``): low-rank adapters on the attention and
MLP projections of the Gemma stacks being trained (the expert only with ``train_expert_only``), everything
else frozen. ``merge_lora`` folds the adapters back so the state dict has lerobot's plain names again."""

from __future__ import annotations

from peft import LoraConfig, inject_adapter_in_model
from torch import nn

from lerobot_training.policies.pi0.model import PI0Policy

PROJECTIONS = r"(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
BACKBONE_LAYERS = r"paligemma\.model\.language_model\.layers\.\d+"
EXPERT_LAYERS = r"gemma_expert\.model\.layers\.\d+"


def lora_targets(expert_only: bool) -> str:
    """peft ``target_modules`` pattern (full match on names inside ``paligemma_with_expert``)."""
    parts = EXPERT_LAYERS if expert_only else f"({BACKBONE_LAYERS}|{EXPERT_LAYERS})"
    return rf"{parts}\.{PROJECTIONS}"


def apply_lora(policy: PI0Policy, rank: int = 16, alpha: int = 16, dropout: float = 0.0) -> PI0Policy:
    """Add LoRA adapters in place and make them the only trainable parameters; returns ``policy``."""
    config = LoraConfig(
        r=rank,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=lora_targets(policy.config.train_expert_only),
    )
    policy.requires_grad_(False)
    inject_adapter_in_model(config, policy.model.paligemma_with_expert)
    for name, parameter in policy.named_parameters():
        parameter.requires_grad_("lora_" in name)
    policy.model.paligemma_with_expert.freeze_unused()  # adapters on never-read outputs would not learn
    return policy


def merge_lora(policy: PI0Policy) -> PI0Policy:
    """Fold every adapter into its base weight and put the plain layer back (lerobot's names); in place."""
    for parent in list(policy.modules()):
        for name, child in list(parent.named_children()):
            if hasattr(child, "merge") and hasattr(child, "get_base_layer"):
                child.merge()
                base: nn.Module = child.get_base_layer()
                setattr(parent, name, base)
    return policy
