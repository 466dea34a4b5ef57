"""Action Chunking Transformer (lerobot ``type: act``)."""

from lerobot_training.policies.act.config import ACTConfig
from lerobot_training.policies.act.model import ACTPolicy, ACTTemporalEnsembler
from lerobot_training.policies.act.processor import make_act_processors

__all__ = ["ACTConfig", "ACTPolicy", "ACTTemporalEnsembler", "make_act_processors"]
