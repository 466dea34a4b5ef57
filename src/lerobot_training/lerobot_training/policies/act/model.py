"""ACT: a ResNet + transformer encoder-decoder that predicts a chunk of actions, trained as a conditional VAE.

Module and parameter names reproduce lerobot's state dict exactly (``model.vae_encoder...``,
``model.backbone...``, ``model.encoder.layers.<i>...``), so ``model.safetensors`` files move between lerobot
and this package.
Tensors inside the transformer are sequence-first: (tokens, batch, dim_model).
"""

from __future__ import annotations

import math
from collections import deque

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops.misc import FrozenBatchNorm2d

from lerobot_training.features import (
    ACTION,
    ACTION_IS_PAD,
    OBS_ENV_STATE,
    OBS_STATE,
    FeatureError,
    require_keys,
)
from lerobot_training.policies.act.config import ACTConfig
from lerobot_training.policies.base import Policy
from lerobot_training.policies.dropout import Dropout
from lerobot_training.policies.vision import build_resnet


def sinusoidal_table(num_positions: int, dim: int) -> Tensor:
    """(num_positions, dim) fixed encoding: sin on even, cos on odd channels, wavelengths 10000^(2i/dim)."""
    positions = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)
    exponents = 2 * (torch.arange(dim) // 2).to(torch.float64) / dim
    angles = positions / torch.pow(10000.0, exponents)
    table = torch.empty(num_positions, dim, dtype=torch.float64)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.float()


class SinePositionEmbedding2d(nn.Module):
    """DETR-style 2D sine position embedding of a feature map: ``dim`` channels for y, then ``dim`` for x."""

    def __init__(self, dim: int, temperature: float = 10000.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = dim
        self.temperature = temperature
        self.eps = eps

    def _encode(self, length: int, device: torch.device) -> Tensor:
        coords = torch.arange(1, length + 1, dtype=torch.float32, device=device)
        coords = coords / (coords[-1:] + self.eps) * (2 * math.pi)  # positions scaled to (0, 2π]
        channel = torch.arange(self.dim, dtype=torch.float32, device=device)
        angles = coords.unsqueeze(1) / self.temperature ** (2 * (channel // 2) / self.dim)
        return torch.stack((angles[:, 0::2].sin(), angles[:, 1::2].cos()), dim=-1).flatten(1)  # (length, dim)

    def forward(self, feature_map: Tensor) -> Tensor:
        """(B, C, H, W) → (1, 2·dim, H, W)."""
        height, width = feature_map.shape[-2:]
        y = self._encode(height, feature_map.device)[:, None, :].expand(height, width, self.dim)
        x = self._encode(width, feature_map.device)[None, :, :].expand(height, width, self.dim)
        return torch.cat((y, x), dim=-1).permute(2, 0, 1).unsqueeze(0)


def _activation(name: str) -> nn.Module:
    return {"relu": nn.ReLU(), "gelu": nn.GELU(), "glu": nn.GLU()}[name]


def _with_pos(x: Tensor, pos: Tensor | None) -> Tensor:
    return x if pos is None else x + pos


class ACTEncoderLayer(nn.Module):
    def __init__(self, config: ACTConfig) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(config.dim_model, config.n_heads, dropout=config.dropout)
        self.linear1 = nn.Linear(config.dim_model, config.dim_feedforward)
        self.dropout = Dropout(config.dropout)
        self.linear2 = nn.Linear(config.dim_feedforward, config.dim_model)
        self.norm1 = nn.LayerNorm(config.dim_model)
        self.norm2 = nn.LayerNorm(config.dim_model)
        self.dropout1 = Dropout(config.dropout)
        self.dropout2 = Dropout(config.dropout)
        self.activation = _activation(config.feedforward_activation)
        self.pre_norm = config.pre_norm

    def forward(self, x: Tensor, pos: Tensor | None = None, key_padding_mask: Tensor | None = None) -> Tensor:
        residual = x
        if self.pre_norm:
            x = self.norm1(x)
        query_key = _with_pos(x, pos)
        # need_weights=False everywhere: the weights are never used, and without them torch runs its fused
        # scaled_dot_product_attention instead of materialising them (same values up to rounding).
        x = self.self_attn(
            query_key, query_key, value=x, key_padding_mask=key_padding_mask, need_weights=False
        )[0]
        x = residual + self.dropout1(x)
        if self.pre_norm:
            residual, x = x, self.norm2(x)
        else:
            x = residual = self.norm1(x)
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        x = residual + self.dropout2(x)
        return x if self.pre_norm else self.norm2(x)


class ACTEncoder(nn.Module):
    def __init__(self, config: ACTConfig, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([ACTEncoderLayer(config) for _ in range(num_layers)])
        # Post-norm layers already end in a LayerNorm; pre-norm stacks need a final one.
        self.norm = nn.LayerNorm(config.dim_model) if config.pre_norm else nn.Identity()

    def forward(self, x: Tensor, pos: Tensor | None = None, key_padding_mask: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, pos=pos, key_padding_mask=key_padding_mask)
        return self.norm(x)


class ACTDecoderLayer(nn.Module):
    def __init__(self, config: ACTConfig) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(config.dim_model, config.n_heads, dropout=config.dropout)
        self.multihead_attn = nn.MultiheadAttention(config.dim_model, config.n_heads, dropout=config.dropout)
        self.linear1 = nn.Linear(config.dim_model, config.dim_feedforward)
        self.dropout = Dropout(config.dropout)
        self.linear2 = nn.Linear(config.dim_feedforward, config.dim_model)
        self.norm1 = nn.LayerNorm(config.dim_model)
        self.norm2 = nn.LayerNorm(config.dim_model)
        self.norm3 = nn.LayerNorm(config.dim_model)
        self.dropout1 = Dropout(config.dropout)
        self.dropout2 = Dropout(config.dropout)
        self.dropout3 = Dropout(config.dropout)
        self.activation = _activation(config.feedforward_activation)
        self.pre_norm = config.pre_norm

    def forward(self, x: Tensor, memory: Tensor, pos: Tensor, memory_pos: Tensor) -> Tensor:
        residual = x
        if self.pre_norm:
            x = self.norm1(x)
        query_key = x + pos
        x = self.self_attn(query_key, query_key, value=x, need_weights=False)[0]
        x = residual + self.dropout1(x)
        if self.pre_norm:
            residual, x = x, self.norm2(x)
        else:
            x = residual = self.norm1(x)
        x = self.multihead_attn(query=x + pos, key=memory + memory_pos, value=memory, need_weights=False)[0]
        x = residual + self.dropout2(x)
        if self.pre_norm:
            residual, x = x, self.norm3(x)
        else:
            x = residual = self.norm2(x)
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        x = residual + self.dropout3(x)
        return x if self.pre_norm else self.norm3(x)


class ACTDecoder(nn.Module):
    def __init__(self, config: ACTConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList([ACTDecoderLayer(config) for _ in range(config.n_decoder_layers)])
        self.norm = nn.LayerNorm(config.dim_model)

    def forward(self, x: Tensor, memory: Tensor, pos: Tensor, memory_pos: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, memory, pos, memory_pos)
        return self.norm(x)


class ResNetTrunk(nn.Module):
    """A torchvision ResNet up to ``layer4`` (no pooling, no classifier), with torchvision's module names."""

    def __init__(self, resnet: nn.Module) -> None:
        super().__init__()
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            self.add_module(name, getattr(resnet, name))

    def forward(self, x: Tensor) -> Tensor:
        for module in self.children():
            x = module(x)
        return x


class ACTModel(nn.Module):
    """The network. Encoder tokens: [latent, state, env state, camera feature pixels...]; the decoder turns
    ``chunk_size`` learned queries into actions."""

    def __init__(self, config: ACTConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.dim_model
        state, env = config.robot_state_feature, config.env_state_feature
        action_dim = config.action_feature.shape[0]
        if config.use_vae:
            self.vae_encoder = ACTEncoder(config, config.n_vae_encoder_layers)
            self.vae_encoder_cls_embed = nn.Embedding(1, dim)
            if state is not None:
                self.vae_encoder_robot_state_input_proj = nn.Linear(state.shape[0], dim)
            self.vae_encoder_action_input_proj = nn.Linear(action_dim, dim)
            self.vae_encoder_latent_output_proj = nn.Linear(dim, config.latent_dim * 2)  # mean, 2·log σ
            num_vae_tokens = 1 + (state is not None) + config.chunk_size
            self.register_buffer("vae_encoder_pos_enc", sinusoidal_table(num_vae_tokens, dim).unsqueeze(0))
        if config.image_features:
            resnet = build_resnet(
                config.vision_backbone,
                config.pretrained_backbone_weights,
                replace_stride_with_dilation=[False, False, config.replace_final_stride_with_dilation],
                norm_layer=FrozenBatchNorm2d,
            )
            self.backbone = ResNetTrunk(resnet)
            backbone_channels = resnet.fc.in_features
        self.encoder = ACTEncoder(config, config.n_encoder_layers)
        self.decoder = ACTDecoder(config)
        if state is not None:
            self.encoder_robot_state_input_proj = nn.Linear(state.shape[0], dim)
        if env is not None:
            self.encoder_env_state_input_proj = nn.Linear(env.shape[0], dim)
        self.encoder_latent_input_proj = nn.Linear(config.latent_dim, dim)
        if config.image_features:
            self.encoder_img_feat_input_proj = nn.Conv2d(backbone_channels, dim, kernel_size=1)
        num_1d_tokens = 1 + (state is not None) + (env is not None)
        self.encoder_1d_feature_pos_embed = nn.Embedding(num_1d_tokens, dim)
        if config.image_features:
            self.encoder_cam_feat_pos_embed = SinePositionEmbedding2d(dim // 2)
        self.decoder_pos_embed = nn.Embedding(config.chunk_size, dim)
        self.action_head = nn.Linear(dim, action_dim)
        for parameter in [*self.encoder.parameters(), *self.decoder.parameters()]:
            if parameter.dim() > 1:
                nn.init.xavier_uniform_(parameter)

    def _encode_latent(
        self, batch: dict[str, Tensor], batch_size: int
    ) -> tuple[Tensor, Tensor | None, Tensor | None]:
        """Latent sampled from the VAE posterior q(z | state, actions) in training, else the prior mean 0."""
        if not (self.config.use_vae and self.training and ACTION in batch):
            latent = torch.zeros(batch_size, self.config.latent_dim, device=self.action_head.weight.device)
            return latent, None, None
        tokens = [self.vae_encoder_cls_embed.weight.unsqueeze(0).expand(batch_size, -1, -1)]
        if self.config.robot_state_feature is not None:
            tokens.append(self.vae_encoder_robot_state_input_proj(batch[OBS_STATE]).unsqueeze(1))
        tokens.append(self.vae_encoder_action_input_proj(batch[ACTION]))
        tokens = torch.cat(tokens, dim=1).transpose(0, 1)
        prefix_is_pad = torch.zeros(batch_size, tokens.shape[0] - batch[ACTION].shape[1], dtype=torch.bool)
        key_padding_mask = torch.cat([prefix_is_pad.to(tokens.device), batch[ACTION_IS_PAD]], dim=1)
        cls_out = self.vae_encoder(
            tokens, pos=self.vae_encoder_pos_enc.transpose(0, 1), key_padding_mask=key_padding_mask
        )[0]
        params = self.vae_encoder_latent_output_proj(cls_out)
        mu, log_sigma_x2 = params[:, : self.config.latent_dim], params[:, self.config.latent_dim :]
        latent = mu + (log_sigma_x2 / 2).exp() * torch.randn_like(mu)
        return latent, mu, log_sigma_x2

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, tuple[Tensor | None, Tensor | None]]:
        """Actions (B, chunk_size, action_dim) and the VAE posterior (mu, 2·log σ), None outside training."""
        cameras = [batch[key] for key in self.config.image_features]
        batch_size = cameras[0].shape[0] if cameras else batch[OBS_ENV_STATE].shape[0]
        latent, mu, log_sigma_x2 = self._encode_latent(batch, batch_size)

        tokens = [self.encoder_latent_input_proj(latent)]
        pos = list(self.encoder_1d_feature_pos_embed.weight.unsqueeze(1))
        if self.config.robot_state_feature is not None:
            tokens.append(self.encoder_robot_state_input_proj(batch[OBS_STATE]))
        if self.config.env_state_feature is not None:
            tokens.append(self.encoder_env_state_input_proj(batch[OBS_ENV_STATE]))
        for image in cameras:
            # channels_last: oneDNN (CPU) and cuDNN convolutions run faster on it (same values up to rounding)
            feature_map = self.backbone(image.contiguous(memory_format=torch.channels_last))
            cam_pos = self.encoder_cam_feat_pos_embed(feature_map).to(dtype=feature_map.dtype)
            features = self.encoder_img_feat_input_proj(feature_map)
            tokens.extend(features.flatten(2).permute(2, 0, 1))  # one token per feature-map pixel
            pos.extend(cam_pos.flatten(2).permute(2, 0, 1))
        tokens = torch.stack(tokens)
        pos = torch.stack(pos)

        memory = self.encoder(tokens, pos=pos)
        queries = torch.zeros(
            self.config.chunk_size,
            batch_size,
            self.config.dim_model,
            dtype=memory.dtype,
            device=memory.device,
        )
        decoded = self.decoder(queries, memory, self.decoder_pos_embed.weight.unsqueeze(1), pos)
        return self.action_head(decoded.transpose(0, 1)), (mu, log_sigma_x2)


class ACTTemporalEnsembler:
    """ACT's temporal ensembling: a step's action is the weighted mean of every chunk's prediction for it.

    The k-th prediction made for a step (k = 0: the oldest, from the earliest chunk) weighs exp(-coeff · k),
    so a positive coeff favours older predictions (lerobot's and the paper's convention). Running averages
    keep each update O(chunk_size) however long the episode.
    """

    def __init__(self, coeff: float, chunk_size: int) -> None:
        self.chunk_size = chunk_size
        self.weights = torch.exp(-coeff * torch.arange(chunk_size, dtype=torch.float32))
        self.weights_cumsum = torch.cumsum(self.weights, dim=0)
        self.reset()

    def reset(self) -> None:
        self.averages: Tensor | None = None  # (B, chunk_size, D): running averages for the coming steps
        self.counts: Tensor | None = None  # (chunk_size, 1): predictions averaged into each

    def update(self, actions: Tensor) -> Tensor:
        """Fold in a new chunk (B, chunk_size, D) predicted now; return the action (B, D) to execute now."""
        weights = self.weights.to(actions.device)
        cumsum = self.weights_cumsum.to(actions.device)
        if self.averages is None:
            self.averages = actions.clone()
            self.counts = torch.ones(self.chunk_size, 1, dtype=torch.long, device=actions.device)
        else:
            # The new chunk's first chunk_size-1 steps overlap the pending averages; its last step is new.
            n = self.counts
            pending = (self.averages * cumsum[n - 1] + actions[:, :-1] * weights[n]) / cumsum[n]
            self.averages = torch.cat([pending, actions[:, -1:]], dim=1)
            self.counts = torch.cat([torch.clamp(n + 1, max=self.chunk_size), torch.ones_like(n[-1:])])
        action = self.averages[:, 0]
        self.averages, self.counts = self.averages[:, 1:], self.counts[1:]
        return action


class ACTPolicy(Policy):
    """ACT policy (lerobot ``type: act``). Works on normalized batches (see the policy's processors)."""

    config_class = ACTConfig
    config: ACTConfig

    def __init__(self, config: ACTConfig) -> None:
        super().__init__(config)
        self.model = ACTModel(config)
        self.temporal_ensembler = (
            ACTTemporalEnsembler(config.temporal_ensemble_coeff, config.chunk_size)
            if config.temporal_ensemble_coeff is not None
            else None
        )
        self.reset()

    def reset(self) -> None:
        if self.temporal_ensembler is not None:
            self.temporal_ensembler.reset()
        self._action_queue: deque[Tensor] = deque(maxlen=self.config.n_action_steps)

    def _input_keys(self) -> list[str]:
        keys = list(self.config.image_features)
        if self.config.robot_state_feature is not None:
            keys.append(OBS_STATE)
        if self.config.env_state_feature is not None:
            keys.append(OBS_ENV_STATE)
        return keys

    def get_optim_params(self) -> list[dict]:
        backbone = [
            p for n, p in self.named_parameters() if n.startswith("model.backbone") and p.requires_grad
        ]
        rest = [
            p for n, p in self.named_parameters() if not n.startswith("model.backbone") and p.requires_grad
        ]
        return [{"params": rest}, {"params": backbone, "lr": self.config.optimizer_lr_backbone}]

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        """L1 over non-padded actions + kl_weight · KL(q(z | state, actions) ‖ N(0, I))."""
        require_keys(batch, [*self._input_keys(), ACTION, ACTION_IS_PAD], "ACT training needs them")
        expected = (self.config.chunk_size, self.config.action_feature.shape[0])
        if tuple(batch[ACTION].shape[1:]) != expected:
            raise FeatureError(
                f"ACT trains on chunks: batch 'action' must be (B, {expected[0]}, {expected[1]}), got "
                f"{tuple(batch[ACTION].shape)}; window the dataset with config.action_delta_indices"
            )
        actions_hat, (mu, log_sigma_x2) = self.model(batch)
        not_pad = ~batch[ACTION_IS_PAD].unsqueeze(-1)
        l1_loss = (F.l1_loss(batch[ACTION], actions_hat, reduction="none") * not_pad).mean()
        parts = {"l1_loss": l1_loss.item()}
        loss = l1_loss
        if mu is not None:
            kld = (-0.5 * (1 + log_sigma_x2 - mu.pow(2) - log_sigma_x2.exp())).sum(-1).mean()
            parts["kld_loss"] = kld.item()
            loss = l1_loss + self.config.kl_weight * kld
        return loss, parts

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor]) -> Tensor:
        """The whole predicted chunk (B, chunk_size, action_dim), latent at its prior mean (eval mode)."""
        self.eval()
        require_keys(batch, self._input_keys(), "the policy's input features")
        return self.model(batch)[0]

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor]) -> Tensor:
        if self.temporal_ensembler is not None:
            return self.temporal_ensembler.update(self.predict_action_chunk(batch))
        if not self._action_queue:
            chunk = self.predict_action_chunk(batch)[:, : self.config.n_action_steps]
            self._action_queue.extend(chunk.transpose(0, 1))
        return self._action_queue.popleft()
