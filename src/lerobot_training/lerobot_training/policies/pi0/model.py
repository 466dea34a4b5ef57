"""π₀: PaliGemma (SigLIP + Gemma) over [images + language] and a Gemma action expert over [state + actions],
sharing attention layer by layer, trained by flow matching.

The building blocks (SigLIP, the Gemma decoder layers, RMSNorm, rotary embedding) are transformers' modules;
the joint attention that runs both Gemmas over one sequence, the masks, the flow matching and the
state/action/time projections are written here. Module names reproduce lerobot's state dict exactly
(``model.paligemma_with_expert.paligemma...``, ``model.action_in_proj...``), so ``model.safetensors`` files
move between lerobot and this package.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from lerobot_training.features import (
    ACTION,
    ACTION_IS_PAD,
    OBS_LANGUAGE_ATTENTION_MASK,
    OBS_LANGUAGE_TOKENS,
    OBS_STATE,
    FeatureError,
    require_keys,
)
from lerobot_training.policies.base import Policy
from lerobot_training.policies.flow import euler_sample
from lerobot_training.policies.pi0.config import GemmaSize, PI0Config
from lerobot_training.policies.pi0.processor import TokenizerStep, choose_tokenizer

if TYPE_CHECKING:  # transformers' Gemma/PaliGemma modules load in ~1 s: only when a π₀ is built
    from transformers import GemmaConfig, PaliGemmaConfig
    from transformers.models.gemma.modeling_gemma import GemmaDecoderLayer, GemmaModel

    from lerobot_training.processor import PolicyProcessor

logger = logging.getLogger(__name__)

LM_HEAD = "model.paligemma_with_expert.paligemma.lm_head.weight"
EMBED_TOKENS = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"

# Per layer, the keys and values (B, kv_heads, L, head_dim) of the tokens already run (the prefix).
KVCache = list[tuple[Tensor, Tensor]]


def paligemma_config(config: PI0Config) -> PaliGemmaConfig:
    from transformers import PaliGemmaConfig

    backbone, siglip = config.backbone_size, config.siglip_size
    return PaliGemmaConfig(
        vision_config={
            "model_type": "siglip_vision_model",
            "hidden_size": siglip.hidden,
            "num_hidden_layers": siglip.depth,
            "intermediate_size": siglip.mlp_dim,
            "num_attention_heads": siglip.num_heads,
            "patch_size": siglip.patch,
            "image_size": config.image_resolution[0],
            "vision_use_head": False,
        },
        # Untied, as lerobot 0.6.1 builds it: its files hold lm_head and embed_tokens as two tensors, and
        # fine-tuning changes embed_tokens only (lm_head is never read).
        text_config=gemma_config(config.backbone_size, config.vocab_size, tie_embeddings=False).to_dict(),
        vocab_size=config.vocab_size,
        projection_dim=config.image_projection_dim,
        hidden_size=backbone.width,
        tie_word_embeddings=False,
    )


def gemma_config(size: GemmaSize, vocab_size: int, tie_embeddings: bool) -> GemmaConfig:
    from transformers import GemmaConfig

    return GemmaConfig(
        vocab_size=vocab_size,
        hidden_size=size.width,
        num_hidden_layers=size.depth,
        intermediate_size=size.mlp_dim,
        num_attention_heads=size.num_heads,
        num_key_value_heads=size.num_kv_heads,
        head_dim=size.head_dim,
        hidden_activation="gelu_pytorch_tanh",
        tie_word_embeddings=tie_embeddings,
    )


def make_attention_mask(pad_masks: Tensor, causal_blocks: Tensor) -> Tensor:
    """Boolean (B, L, L) mask, True where token i may attend token j.

    ``causal_blocks`` (B, L) is True where a new block starts: a token attends every valid token of its own
    block and of earlier blocks, none of later blocks (π₀: the prefix is one block, the state token starts
    the second, the first action token the third). Padding (``pad_masks`` False) attends and is attended by
    nothing.
    """
    block = torch.cumsum(causal_blocks.to(torch.int64), dim=1)
    allowed = block[:, None, :] <= block[:, :, None]
    valid = pad_masks[:, None, :] & pad_masks[:, :, None]
    return allowed & valid


def sinusoidal_time_embedding(t: Tensor, dim: int, min_period: float, max_period: float) -> Tensor:
    """(B,) times → (B, dim): [sin(2π t / p_i), cos(2π t / p_i)], periods p_i geometric from min to max."""
    if dim % 2:
        raise ValueError(f"the time embedding needs an even width, got {dim}")
    # float64 where available: 2π/4e-3 · t needs the precision (MPS has no float64).
    dtype = torch.float32 if t.device.type == "mps" else torch.float64
    fraction = torch.linspace(0.0, 1.0, dim // 2, dtype=dtype, device=t.device)
    period = min_period * (max_period / min_period) ** fraction
    angles = (2 * math.pi / period)[None, :] * t.to(dtype)[:, None]
    return torch.cat([angles.sin(), angles.cos()], dim=1)


def resize_with_pad(images: Tensor, height: int, width: int) -> Tensor:
    """(B, C, h, w) → (B, C, height, width), keeping the aspect ratio; the border is padded with 0 (black in
    [0, 1]) and the image centred, as openpi does."""
    in_height, in_width = images.shape[-2:]
    if (in_height, in_width) == (height, width):
        return images
    ratio = max(in_width / width, in_height / height)
    new_height, new_width = int(in_height / ratio), int(in_width / ratio)
    resized = F.interpolate(images, size=(new_height, new_width), mode="bilinear", align_corners=False)
    top, left = (height - new_height) // 2, (width - new_width) // 2
    return F.pad(resized, (left, width - new_width - left, top, height - new_height - top), value=0.0)


def pad_last_dim(x: Tensor, size: int) -> Tensor:
    """Zero-pad the last dimension to ``size`` (π₀ works on max_state_dim/max_action_dim vectors)."""
    if x.shape[-1] > size:
        raise FeatureError(f"a vector of {x.shape[-1]} dimensions does not fit in {size}")
    return F.pad(x, (0, size - x.shape[-1]))


class VisionTower(nn.Module):
    """SigLIP under the attribute ``vision_model``: lerobot's files name it
    ``vision_tower.vision_model...``, a level that transformers 5 dropped from SiglipVisionModel."""

    def __init__(self, vision_model: nn.Module) -> None:
        super().__init__()
        self.vision_model = vision_model

    def forward(self, pixel_values: Tensor) -> Tensor:
        weight = self.vision_model.embeddings.patch_embedding.weight
        return self.vision_model(pixel_values=pixel_values.to(weight.dtype)).last_hidden_state


class PaliGemmaWithExpert(nn.Module):
    """Two Gemma stacks over one sequence: per layer each stream computes q/k/v with its own weights and
    norms, attention runs over the concatenation, each stream applies its own o_proj and MLP."""

    def __init__(self, config: PI0Config) -> None:
        from transformers import GemmaForCausalLM, PaliGemmaForConditionalGeneration

        super().__init__()
        self.paligemma = PaliGemmaForConditionalGeneration(paligemma_config(config))
        self.paligemma.model.vision_tower = VisionTower(self.paligemma.model.vision_tower)
        self.gemma_expert = GemmaForCausalLM(
            gemma_config(config.expert_size, config.vocab_size, tie_embeddings=False)
        )
        # The expert reads embeddings made by π₀'s projections, never tokens (lerobot drops it too).
        self.gemma_expert.model.embed_tokens = None
        self.gradient_checkpointing = config.gradient_checkpointing
        if (
            self.paligemma.lm_head.weight is self.backbone.embed_tokens.weight
        ):  # a transformers that ties anyway
            raise RuntimeError("PaliGemma's lm_head must not share the token embedding (lerobot's layout)")
        self.freeze_unused()

    @property
    def backbone(self) -> GemmaModel:
        return self.paligemma.model.language_model

    @property
    def expert(self) -> GemmaModel:
        return self.gemma_expert.model

    def embed_image(self, pixels: Tensor) -> Tensor:
        """(B, 3, H, W) in [-1, 1] → (B, patches, backbone width)."""
        features = self.paligemma.model.vision_tower(pixels)
        return self.paligemma.model.multi_modal_projector(features)

    def keep_float32(self) -> list[nn.Module]:
        """The modules lerobot keeps in float32 when π₀ runs in bfloat16: the vision tower, the image
        projection and every RMSNorm (a Gemma's layer norms and final norm)."""
        from transformers.models.gemma.modeling_gemma import GemmaRMSNorm

        model = self.paligemma.model
        norms = [module for module in self.modules() if isinstance(module, GemmaRMSNorm)]
        return [model.vision_tower, model.multi_modal_projector, *norms]

    def to_mixed_bfloat16(self) -> None:
        """bfloat16 for the Gemma layers and embeddings, float32 for what ``keep_float32`` names."""
        self.to(torch.bfloat16)
        for module in self.keep_float32():
            module.to(torch.float32)

    @staticmethod
    def compute_dtype(stack: GemmaModel) -> torch.dtype:
        """The dtype a Gemma stack's layers compute in (its norms may be float32 while its layers are not)."""
        return stack.layers[0].self_attn.q_proj.weight.dtype

    def embed_language(self, tokens: Tensor) -> Tensor:
        """Token ids → embeddings, scaled by sqrt(width) inside Gemma's embedding module."""
        return self.backbone.embed_tokens(tokens)

    def unused_parameter_names(self) -> list[str]:
        """Parameters that never influence π₀'s actions, hence never get a gradient: the backbone's output is
        not read (only its keys/values), so its last layer's queries, o_proj, MLP and final norm are
        dead; both lm_heads exist only because lerobot's files hold them. Frozen, so that DDP and optimizers
        see only parameters that learn."""
        last = f"paligemma.model.language_model.layers.{len(self.backbone.layers) - 1}"
        dead = (
            f"{last}.self_attn.q_proj.",
            f"{last}.self_attn.o_proj.",
            f"{last}.post_attention_layernorm.",
            f"{last}.mlp.",
            "paligemma.model.language_model.norm.",
            "paligemma.lm_head.",
            "gemma_expert.lm_head.",
        )
        return [name for name, _ in self.named_parameters() if name.startswith(dead)]

    def freeze_unused(self) -> None:
        parameters = dict(self.named_parameters())
        for name in self.unused_parameter_names():
            parameters[name].requires_grad_(False)

    def forward(
        self,
        prefix: Tensor | None,
        suffix: Tensor | None,
        attention_mask: Tensor,
        position_ids: Tensor,
        past: KVCache | None = None,
        use_cache: bool = False,
    ) -> tuple[Tensor | None, KVCache | None]:
        """Run the prefix through the backbone and the suffix through the expert (either may be None), layer
        by layer over one sequence [past | prefix | suffix].

        ``attention_mask`` (B, L_new, L_past + L_new) bool over the keys; ``position_ids`` (B, L_new).
        Returns the expert's final-normed hidden states (None without a suffix) and, with ``use_cache``,
        the new tokens' keys/values per layer.
        """
        # Each stream computes in its layers' dtype (bfloat16 with float32 norms in mixed precision).
        if prefix is not None:
            prefix = prefix.to(self.compute_dtype(self.backbone))
        if suffix is not None:
            suffix = suffix.to(self.compute_dtype(self.expert))
        reference = prefix if prefix is not None else suffix
        bias = torch.zeros(attention_mask.shape, dtype=reference.dtype, device=reference.device)
        bias = bias.masked_fill(~attention_mask, torch.finfo(reference.dtype).min)[:, None]
        cos, sin = self.backbone.rotary_emb(reference, position_ids)
        hiddens = [prefix, suffix]
        cache: KVCache = []
        depth = len(self.backbone.layers)
        for index in range(depth):
            layers = [self.backbone.layers[index], self.expert.layers[index]]
            layer_past = past[index] if past is not None else None
            # The backbone's output is never read: in the last layer it only provides keys and values.
            keys_only = (index == depth - 1, False)
            arguments = (layers, hiddens, cos, sin, bias, layer_past, keys_only)
            if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
                hiddens, kv = checkpoint(_joint_layer, *arguments, use_reentrant=False)
            else:
                hiddens, kv = _joint_layer(*arguments)
            cache.append(kv)
        out = self.expert.norm(hiddens[1]) if hiddens[1] is not None else None
        return out, (cache if use_cache else None)


def _rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotary position embedding of (B, heads, L, head_dim), in Gemma's layout (halves, not interleaved)."""
    first, second = x.chunk(2, dim=-1)
    return x * cos + torch.cat([-second, first], dim=-1) * sin


def _joint_layer(
    layers: list[GemmaDecoderLayer],
    hiddens: list[Tensor | None],
    cos: Tensor,
    sin: Tensor,
    bias: Tensor,
    past: tuple[Tensor, Tensor] | None,
    keys_only: tuple[bool, bool],
) -> tuple[list[Tensor | None], tuple[Tensor, Tensor]]:
    """One layer of both streams: own norms and q/k/v, attention over the concatenation, own o_proj and MLP.
    A stream marked ``keys_only`` contributes keys/values but no queries, and has no output."""
    queries, keys, values, query_lengths = [], [], [], []
    offset = 0
    for layer, hidden, kv_only in zip(layers, hiddens, keys_only, strict=True):
        if hidden is None:
            continue
        attention = layer.self_attn
        x = layer.input_layernorm(hidden)
        shape = (*x.shape[:-1], -1, attention.head_dim)
        span = slice(offset, offset + hidden.shape[1])
        offset = span.stop
        rope = (cos[:, None, span], sin[:, None, span])
        keys.append(_rotate(attention.k_proj(x).view(shape).transpose(1, 2), *rope))
        values.append(attention.v_proj(x).view(shape).transpose(1, 2))
        if not kv_only:
            queries.append(_rotate(attention.q_proj(x).view(shape).transpose(1, 2), *rope))
            query_lengths.append(hidden.shape[1])
    key, value = torch.cat(keys, 2), torch.cat(values, 2)
    new_kv = (key, value)
    outputs: list[Tensor | None] = [None, None]
    if not queries:
        return outputs, new_kv
    if past is not None:
        key, value = torch.cat([past[0], key], 2), torch.cat([past[1], value], 2)
    query = torch.cat(queries, 2)
    # Queries come last in the sequence (a keys-only stream is the first one): their rows of the mask.
    attended = F.scaled_dot_product_attention(
        query,
        key,
        value,
        attn_mask=bias[:, :, bias.shape[2] - query.shape[2] :],
        scale=query.shape[-1] ** -0.5,
        enable_gqa=True,
    )
    parts = iter(torch.split(attended.transpose(1, 2).flatten(2), query_lengths, dim=1))
    for stream, (layer, hidden, kv_only) in enumerate(zip(layers, hiddens, keys_only, strict=True)):
        if hidden is None or kv_only:
            continue
        hidden = hidden + layer.self_attn.o_proj(next(parts).to(hidden.dtype))
        outputs[stream] = hidden + layer.mlp(layer.post_attention_layernorm(hidden))
    return outputs, new_kv


class PI0Model(nn.Module):
    """π₀'s network and flow matching, on preprocessed tensors (images in [-1, 1], padded state/actions)."""

    def __init__(self, config: PI0Config) -> None:
        super().__init__()
        self.config = config
        self.paligemma_with_expert = PaliGemmaWithExpert(config)
        width = config.expert_size.width
        self.state_proj = nn.Linear(config.max_state_dim, width)
        self.action_in_proj = nn.Linear(config.max_action_dim, width)
        self.action_out_proj = nn.Linear(width, config.max_action_dim)
        self.action_time_mlp_in = nn.Linear(2 * width, width)
        self.action_time_mlp_out = nn.Linear(width, width)
        self._compiled_suffix_velocity: Callable[..., Tensor] | None = None

    @property
    def dtype(self) -> torch.dtype:
        """The dtype of the state/action/time projections (float32 also in lerobot's bfloat16 mode)."""
        return self.action_in_proj.weight.dtype

    # -- embeddings -----------------------------------------------------------------------------------------
    def embed_images(self, images: list[Tensor], image_masks: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Image tokens (B, cameras · patches, W) and validity (an empty camera's tokens are padding)."""
        embeds, pads = [], []
        for pixels, present in zip(images, image_masks, strict=True):
            embedded = self.paligemma_with_expert.embed_image(pixels)
            embeds.append(embedded)
            pads.append(present[:, None].expand(-1, embedded.shape[1]))
        return torch.cat(embeds, 1), torch.cat(pads, 1)

    def embed_prefix(
        self, image_embeds: Tensor, image_pads: Tensor, tokens: Tensor, token_masks: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        """[images | language]: embeddings, validity, block starts (all False: one bidirectional block)."""
        backbone = self.paligemma_with_expert.backbone
        if image_embeds.shape[-1] != backbone.config.hidden_size:
            raise FeatureError(
                f"the image projection gives {image_embeds.shape[-1]}-wide tokens but the Gemma backbone is "
                f"{backbone.config.hidden_size} wide: paligemma_variant={self.config.paligemma_variant} "
                "builds (as in lerobot 0.6.1, so its files load) but cannot run; use gemma_2b"
            )
        vocab = backbone.embed_tokens.num_embeddings
        if tokens.numel() and int(tokens.max()) >= vocab:
            raise FeatureError(
                f"language token id {int(tokens.max())} is outside the model's vocabulary ({vocab}): the "
                "tokenizer does not belong to this paligemma_variant"
            )
        language = self.paligemma_with_expert.embed_language(tokens).to(image_embeds.dtype)
        embeds = torch.cat([image_embeds, language], 1)
        pads = torch.cat([image_pads, token_masks.bool()], 1)
        return embeds, pads, torch.zeros_like(pads)

    def embed_suffix(self, state: Tensor, noisy_actions: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """[state | actions]: the state token and one token per action fused with the time embedding."""
        dtype = self.dtype
        state_token = self.state_proj(state.to(dtype))[:, None]
        actions = self.action_in_proj(noisy_actions.to(dtype))
        time_embed = sinusoidal_time_embedding(
            t, actions.shape[-1], self.config.min_period, self.config.max_period
        ).to(dtype)
        fused = torch.cat([actions, time_embed[:, None].expand_as(actions)], dim=-1)
        actions = self.action_time_mlp_out(F.silu(self.action_time_mlp_in(fused)))
        embeds = torch.cat([state_token, actions], 1)
        batch, length = embeds.shape[:2]
        pads = torch.ones(batch, length, dtype=torch.bool, device=embeds.device)
        blocks = torch.zeros_like(pads)
        blocks[:, :2] = True  # the state token starts a block, the first action token the next
        return embeds, pads, blocks

    # -- training -------------------------------------------------------------------------------------------
    def sample_time(self, batch: int, device: torch.device) -> Tensor:
        beta = torch.distributions.Beta(
            torch.tensor(self.config.time_sampling_beta_alpha, device=device),
            torch.tensor(self.config.time_sampling_beta_beta, device=device),
        )
        t = beta.sample((batch,)).float()
        return t * self.config.time_sampling_scale + self.config.time_sampling_offset

    def compute_loss(
        self,
        images: list[Tensor],
        image_masks: list[Tensor],
        tokens: Tensor,
        token_masks: Tensor,
        state: Tensor,
        actions: Tensor,
        noise: Tensor | None = None,
        t: Tensor | None = None,
    ) -> Tensor:
        """Per-element squared error (B, chunk, max_action_dim) of the predicted velocity."""
        noise = torch.randn_like(actions) if noise is None else noise
        t = self.sample_time(actions.shape[0], actions.device) if t is None else t
        x_t = t[:, None, None] * noise + (1 - t[:, None, None]) * actions
        target = noise - actions
        image_embeds, image_pads = self.embed_images(images, image_masks)
        prefix, prefix_pads, prefix_blocks = self.embed_prefix(image_embeds, image_pads, tokens, token_masks)
        velocity = self._full_velocity(prefix, prefix_pads, prefix_blocks, state, x_t, t)
        return F.mse_loss(target, velocity, reduction="none")

    # -- velocity -------------------------------------------------------------------------------------------
    def _velocity_from(self, expert_out: Tensor) -> Tensor:
        return self.action_out_proj(expert_out[:, -self.config.chunk_size :].to(self.dtype)).float()

    def _full_velocity(
        self,
        prefix: Tensor,
        prefix_pads: Tensor,
        prefix_blocks: Tensor,
        state: Tensor,
        x_t: Tensor,
        t: Tensor,
    ) -> Tensor:
        """The reference path: both streams over the whole [prefix | suffix] sequence."""
        suffix, suffix_pads, suffix_blocks = self.embed_suffix(state, x_t, t)
        pads = torch.cat([prefix_pads, suffix_pads], 1)
        mask = make_attention_mask(pads, torch.cat([prefix_blocks, suffix_blocks], 1))
        positions = torch.cumsum(pads.long(), 1) - 1
        expert_out, _ = self.paligemma_with_expert(prefix, suffix, mask, positions)
        return self._velocity_from(expert_out)

    def prefix_cache(self, prefix: Tensor, prefix_pads: Tensor, prefix_blocks: Tensor) -> KVCache:
        """Keys and values of the prefix in every layer (the prefix never attends the suffix, so they do not
        change while the actions are denoised)."""
        mask = make_attention_mask(prefix_pads, prefix_blocks)
        positions = torch.cumsum(prefix_pads.long(), 1) - 1
        _, cache = self.paligemma_with_expert(prefix, None, mask, positions, use_cache=True)
        return cache

    def suffix_velocity(
        self, cache: KVCache, prefix_pads: Tensor, state: Tensor, x_t: Tensor, t: Tensor
    ) -> Tensor:
        """One denoising step: only the expert stream runs, attending the cached prefix."""
        suffix, suffix_pads, suffix_blocks = self.embed_suffix(state, x_t, t)
        length = suffix.shape[1]
        to_prefix = prefix_pads[:, None, :].expand(-1, length, -1)
        mask = torch.cat([to_prefix, make_attention_mask(suffix_pads, suffix_blocks)], 2)
        positions = prefix_pads.long().sum(1, keepdim=True) + torch.cumsum(suffix_pads.long(), 1) - 1
        expert_out, _ = self.paligemma_with_expert(None, suffix, mask, positions, past=cache)
        return self._velocity_from(expert_out)

    def denoise_step(self) -> Callable[..., Tensor]:
        """``suffix_velocity``, compiled with torch.compile on first use when the config asks for it."""
        if not self.config.compile_model:
            return self.suffix_velocity
        if self._compiled_suffix_velocity is None:
            self._compiled_suffix_velocity = torch.compile(
                self.suffix_velocity, mode=self.config.compile_mode
            )
        return self._compiled_suffix_velocity

    def make_velocity(
        self,
        images: list[Tensor],
        image_masks: list[Tensor],
        tokens: Tensor,
        token_masks: Tensor,
        state: Tensor,
        use_cache: bool = True,
    ) -> tuple[Callable[[Tensor, Tensor], Tensor], dict[str, float]]:
        """velocity(x_t, t) for one observation, and the time (ms) spent on vision and prefix. Cached: the
        prefix runs once here; uncached: every call runs the full sequence (the reference path)."""
        with torch.no_grad():
            started = _now(state.device)
            image_embeds, image_pads = self.embed_images(images, image_masks)
            vision_done = _now(state.device)
            prefix, prefix_pads, prefix_blocks = self.embed_prefix(
                image_embeds, image_pads, tokens, token_masks
            )
            if use_cache:
                cache = self.prefix_cache(prefix, prefix_pads, prefix_blocks)
            prefix_done = _now(state.device)
        latency = {"vision_ms": (vision_done - started) * 1e3, "prefix_ms": (prefix_done - vision_done) * 1e3}
        if use_cache:
            step = self.denoise_step()
            return (lambda x_t, t: step(cache, prefix_pads, state, x_t, t)), latency
        return (
            lambda x_t, t: self._full_velocity(prefix, prefix_pads, prefix_blocks, state, x_t, t)
        ), latency


def _now(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class PI0Policy(Policy):
    """π₀ on preprocessed batches: cameras in [0, 1], normalized state/action, tokenized task text."""

    config_class = PI0Config
    supports_rtc = True
    # Files from when PaliGemma's lm_head and token embedding were tied hold one of them: a file lacking one
    # gives it the other's tensor (lerobot fills embed_tokens from lm_head the same way).
    alternate_weights: ClassVar[dict[str, str]] = {EMBED_TOKENS: LM_HEAD, LM_HEAD: EMBED_TOKENS}

    def __init__(self, config: PI0Config) -> None:
        super().__init__(config)
        self.config: PI0Config = config
        self.model = PI0Model(config)
        if config.dtype == "bfloat16":
            # lerobot's mixed precision: the projections of PI0Model stay float32 as well.
            self.model.paligemma_with_expert.to_mixed_bfloat16()
        self._freeze()
        if config.use_peft:
            self.add_adapters()
        # Timings (ms) of the last chunk: vision tower, prefix (language + KV cache), denoising, total
        # (including the image resizing before the vision tower).
        self.last_latency: dict[str, float] = {}
        self._queue: deque[Tensor] = deque(maxlen=config.n_action_steps)

    def _freeze(self) -> None:
        paligemma = self.model.paligemma_with_expert.paligemma
        if self.config.train_expert_only:
            paligemma.requires_grad_(False)
        elif self.config.freeze_vision_encoder:
            paligemma.model.vision_tower.requires_grad_(False)

    def reset(self) -> None:
        self._queue.clear()

    # -- fine-tuning ----------------------------------------------------------------------------------------
    def add_adapters(self) -> None:
        from lerobot_training.policies.pi0.lora import apply_lora  # imports peft: only when used

        apply_lora(self)

    @classmethod
    def fit_pretrained_preprocessor(cls, preprocessor: PolicyProcessor, pretrained_dir: Path) -> list[str]:
        """The tokenizer the pretrained weights were trained with (see ``choose_tokenizer``)."""
        notes = []
        for step in preprocessor.steps:
            if isinstance(step, TokenizerStep):
                step.tokenizer_name, source = choose_tokenizer(pretrained_dir)
                notes.append(f"tokenizer: {step.tokenizer_name} ({source})")
        return notes

    # -- inputs ---------------------------------------------------------------------------------------------
    def _inputs(self, batch: dict[str, Tensor]) -> tuple[list[Tensor], list[Tensor], Tensor, Tensor, Tensor]:
        cameras = list(self.config.image_features)
        require_keys(
            batch,
            [OBS_STATE, *cameras],
            "π₀ reads the state and every camera of its config",
        )
        require_keys(
            batch,
            [OBS_LANGUAGE_TOKENS, OBS_LANGUAGE_ATTENTION_MASK],
            "the task text must be tokenized: run the π₀ preprocessor with batch['task'] set",
        )
        state = pad_last_dim(batch[OBS_STATE], self.config.max_state_dim)
        size = self.config.image_resolution
        dtype = self.model.dtype
        images, masks = [], []
        for key in cameras:
            pixels = resize_with_pad(batch[key].to(torch.float32), *size) * 2.0 - 1.0
            images.append(pixels.to(dtype))
            masks.append(torch.ones(state.shape[0], dtype=torch.bool, device=state.device))
        for _ in range(self.config.empty_cameras):
            images.append(torch.full_like(images[0], -1.0))
            masks.append(torch.zeros(state.shape[0], dtype=torch.bool, device=state.device))
        tokens = batch[OBS_LANGUAGE_TOKENS].long()
        token_masks = batch[OBS_LANGUAGE_ATTENTION_MASK].bool()
        return images, masks, tokens, token_masks, state

    # -- training -------------------------------------------------------------------------------------------
    def forward(
        self, batch: dict[str, Tensor], noise: Tensor | None = None, t: Tensor | None = None
    ) -> tuple[Tensor, dict[str, float]]:
        """Flow-matching MSE averaged over the real action dimensions of the steps inside the episode."""
        require_keys(batch, [ACTION], "training needs the action chunk")
        actions = pad_last_dim(batch[ACTION], self.config.max_action_dim)
        losses = self.model.compute_loss(*self._inputs(batch), actions, noise, t)
        action_dim = self.config.action_feature.shape[-1]
        losses = losses[..., :action_dim]
        valid = (
            ~batch[ACTION_IS_PAD]
            if ACTION_IS_PAD in batch
            else torch.ones_like(losses[..., 0], dtype=torch.bool)
        )
        weights = valid[..., None].to(losses.dtype)
        loss = (losses * weights).sum() / (weights.sum() * action_dim).clamp_min(1.0)
        return loss, {"loss": loss.item()}

    # -- inference ------------------------------------------------------------------------------------------
    def sample_actions(
        self,
        batch: dict[str, Tensor],
        noise: Tensor | None = None,
        use_cache: bool = True,
        prev_actions: Tensor | None = None,
        inference_delay: int = 0,
    ) -> Tensor:
        """Denoised chunk (B, chunk_size, max_action_dim) in the model's normalized, padded action space.
        ``use_cache=False`` runs the uncached reference path (full prefix + suffix every step)."""
        started = _now(self.model.action_in_proj.weight.device)
        images, masks, tokens, token_masks, state = self._inputs(batch)
        shape = (state.shape[0], self.config.chunk_size, self.config.max_action_dim)
        noise = torch.randn(shape, device=state.device) if noise is None else noise.to(state.device)
        velocity, latency = self.model.make_velocity(images, masks, tokens, token_masks, state, use_cache)
        denoise_start = _now(state.device)
        steps = self.config.num_inference_steps
        if prev_actions is not None and self.config.rtc_enabled:
            from lerobot_training.policies.rtc import rtc_sample

            prev = pad_last_dim(prev_actions.to(state.device, torch.float32), self.config.max_action_dim)
            actions = rtc_sample(
                velocity,
                noise.float(),
                steps,
                prev,
                inference_delay,
                self.config.rtc_execution_horizon,
                self.config.rtc_max_guidance,
            )
        else:
            with torch.no_grad():
                actions = euler_sample(velocity, noise.float(), steps)
        finished = _now(state.device)
        latency["denoise_ms"] = (finished - denoise_start) * 1e3
        latency["total_ms"] = (finished - started) * 1e3
        self.last_latency = latency
        logger.debug("pi0 chunk latency (ms): %s", {k: round(v, 2) for k, v in latency.items()})
        return actions.detach()

    def predict_action_chunk(
        self,
        batch: dict[str, Tensor],
        prev_actions: Tensor | None = None,
        inference_delay: int = 0,
        noise: Tensor | None = None,
    ) -> Tensor:
        """(B, chunk_size, action_dim) normalized actions. With ``prev_actions`` (the still-queued part of the
        previous chunk, normalized, (B, P, action_dim or max_action_dim)) and ``rtc_config`` enabled, the
        chunk is guided to continue them (Real-Time Chunking); otherwise prev_actions is ignored."""
        was_training = self.training
        self.eval()
        try:
            actions = self.sample_actions(batch, noise, True, prev_actions, inference_delay)
        finally:
            self.train(was_training)
        return actions[..., : self.config.action_feature.shape[-1]]

    def select_action(self, batch: dict[str, Tensor], noise: Tensor | None = None) -> Tensor:
        if not self._queue:
            chunk = self.predict_action_chunk(batch, noise=noise)[:, : self.config.n_action_steps]
            self._queue.extend(chunk.transpose(0, 1))
        return self._queue.popleft()
