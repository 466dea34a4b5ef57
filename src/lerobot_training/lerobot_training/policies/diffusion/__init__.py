"""Diffusion Policy (lerobot ``type: diffusion``)."""

from lerobot_training.policies.diffusion.config import DiffusionConfig
from lerobot_training.policies.diffusion.model import DiffusionPolicy
from lerobot_training.policies.diffusion.processor import make_diffusion_processors

__all__ = ["DiffusionConfig", "DiffusionPolicy", "make_diffusion_processors"]
