"""LoRA fine-tuning of π₀ through ``peft`` (lerobot's ``use_peft``): low-rank adapters on the attention and
MLP projections of the Gemma stacks being trained (the expert only with ``train_expert_only``), everything
else frozen."""

from __future__ import annotations

from peft import LoraConfig, inject_adapter_in_model
from torch import nn

PROJECTIONS = r"(self_attn\.(q|k|v|o)_proj|mlp\.(gate|up|down)_proj)"
BACKBONE_LAYERS = r"paligemma\.model\.language_model\.layers\.\d+"
EXPERT_LAYERS = r"gemma_expert\.model\.layers\.\d+"


def lora_targets(expert_only: bool) -> str:
    """peft ``target_modules`` pattern (full match on names inside ``paligemma_with_expert``)."""
    parts = EXPERT_LAYERS if expert_only else f"({BACKBONE_LAYERS}|{EXPERT_LAYERS})"
    return rf"{parts}\.{PROJECTIONS}"


def apply_lora(policy: nn.Module, rank: int = 16, alpha: int = 16, dropout: float = 0.0) -> nn.Module:
    """Add LoRA adapters to a ``PI0Policy`` in place and make them the only trainable parameters; returns it.
    (Typed as a module: model.py imports this file, so this file does not import model.py.)"""
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
