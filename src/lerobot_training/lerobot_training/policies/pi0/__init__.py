"""π₀ (lerobot ``type: pi0``): PaliGemma + Gemma action expert, flow matching."""

from lerobot_training.policies.pi0.config import PI0Config
from lerobot_training.policies.pi0.model import PI0Policy
from lerobot_training.policies.pi0.processor import make_pi0_processors

__all__ = ["PI0Config", "PI0Policy", "make_pi0_processors"]
