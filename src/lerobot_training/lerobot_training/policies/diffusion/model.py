"""Diffusion Policy: per-camera ResNet + spatial-softmax encoders condition a 1D UNet (FiLM) that denoises a
trajectory of ``horizon`` actions with a diffusers DDPM or DDIM scheduler.

Module and parameter names reproduce lerobot's state dict exactly (``diffusion.rgb_encoder...``,
``diffusion.unet.down_modules...``), so ``model.safetensors`` files move between lerobot and this package.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from diffusers.schedulers.scheduling_ddim import DDIMScheduler
from diffusers.schedulers.scheduling_ddpm import DDPMScheduler
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

from lerobot_training.features import (
    ACTION,
    ACTION_IS_PAD,
    OBS_ENV_STATE,
    OBS_STATE,
    FeatureError,
    require_keys,
)
from lerobot_training.policies.base import Policy
from lerobot_training.policies.diffusion.config import DiffusionConfig
from lerobot_training.policies.vision import build_resnet


class SpatialSoftmax(nn.Module):
    """Keypoints of a feature map: per channel (after an optional 1×1 conv to ``num_kp`` channels), the
    expected (x, y) position in [-1, 1]² under the softmax of its activations (Levine et al. 2016)."""

    def __init__(self, input_shape: tuple[int, int, int], num_kp: int | None = None) -> None:
        super().__init__()
        channels, self.height, self.width = input_shape
        self.nets = nn.Conv2d(channels, num_kp, kernel_size=1) if num_kp is not None else None
        self.num_out = num_kp if num_kp is not None else channels
        # float64 grid cast to float32, as lerobot computes it (the buffer is saved with the weights).
        xs, ys = np.meshgrid(np.linspace(-1.0, 1.0, self.width), np.linspace(-1.0, 1.0, self.height))
        grid = np.stack([xs.reshape(-1), ys.reshape(-1)], axis=1)
        self.register_buffer("pos_grid", torch.from_numpy(grid).float())  # (H·W, 2), row-major pixels

    def forward(self, features: Tensor) -> Tensor:
        """(B, C, H, W) → (B, num_kp, 2)."""
        if self.nets is not None:
            features = self.nets(features)
        attention = F.softmax(features.reshape(-1, self.height * self.width), dim=-1)
        return (attention @ self.pos_grid).view(-1, self.num_out, 2)


def _replace_batch_norms(module: nn.Module) -> None:
    """BatchNorm2d → GroupNorm with ~16 channels per group (lerobot's ``use_group_norm``)."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            setattr(module, name, nn.GroupNorm(child.num_features // 16, child.num_features))
        else:
            _replace_batch_norms(child)


class DiffusionRgbEncoder(nn.Module):
    """One camera image (B, 3, H, W) → (B, 2 · spatial_softmax_num_keypoints) features."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.resize = torchvision.transforms.Resize(config.resize_shape) if config.resize_shape else None
        if config.crop_shape is not None:
            self.center_crop = torchvision.transforms.CenterCrop(config.crop_shape)
            self.train_crop = (
                torchvision.transforms.RandomCrop(config.crop_shape)
                if config.crop_is_random
                else self.center_crop
            )
        else:
            self.center_crop = self.train_crop = None
        resnet = build_resnet(config.vision_backbone, config.pretrained_backbone_weights)
        self.backbone = nn.Sequential(
            *list(resnet.children())[:-2]
        )  # up to layer4: no pooling, no classifier
        if config.use_group_norm:
            _replace_batch_norms(self.backbone)
        channels, height, width = next(iter(config.image_features.values())).shape
        if config.crop_shape is not None:
            height, width = config.crop_shape
        elif config.resize_shape is not None:
            height, width = config.resize_shape
        self.pool = SpatialSoftmax(
            self._feature_map_shape(channels, height, width), config.spatial_softmax_num_keypoints
        )
        self.feature_dim = config.spatial_softmax_num_keypoints * 2
        self.out = nn.Linear(config.spatial_softmax_num_keypoints * 2, self.feature_dim)
        self.relu = nn.ReLU()

    def _feature_map_shape(self, channels: int, height: int, width: int) -> tuple[int, int, int]:
        # Dry run in eval mode so that the batch norms' running statistics stay untouched.
        device = next(self.backbone.parameters()).device
        self.backbone.eval()
        with torch.no_grad():
            shape = self.backbone(torch.zeros(1, channels, height, width, device=device)).shape[1:]
        self.backbone.train()
        return tuple(shape)

    def forward(self, images: Tensor) -> Tensor:
        if self.resize is not None:
            images = self.resize(images)
        if self.center_crop is not None:
            images = self.train_crop(images) if self.training else self.center_crop(images)
        keypoints = self.pool(self.backbone(images))
        return self.relu(self.out(keypoints.flatten(start_dim=1)))


class DiffusionSinusoidalPosEmb(nn.Module):
    """Diffusion step t → (B, dim): [sin(t·f_i), cos(t·f_i)], frequencies f_i geometric from 1 to 1e-4."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, timesteps: Tensor) -> Tensor:
        half = self.dim // 2
        frequencies = torch.exp(torch.arange(half, device=timesteps.device) * -(math.log(10000) / (half - 1)))
        angles = timesteps.unsqueeze(-1) * frequencies.unsqueeze(0)
        return torch.cat((angles.sin(), angles.cos()), dim=-1)


class DiffusionConv1dBlock(nn.Module):
    """Conv1d → GroupNorm → Mish."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, n_groups: int = 8) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2),
            nn.GroupNorm(n_groups, out_channels),
            nn.Mish(),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.block(x)


class DiffusionConditionalResidualBlock1d(nn.Module):
    """Two conv blocks with FiLM conditioning between them (scale and bias, or bias only), plus a residual."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        cond_dim: int,
        kernel_size: int,
        n_groups: int,
        use_film_scale_modulation: bool,
    ) -> None:
        super().__init__()
        self.use_film_scale_modulation = use_film_scale_modulation
        self.out_channels = out_channels
        self.conv1 = DiffusionConv1dBlock(in_channels, out_channels, kernel_size, n_groups)
        film_channels = out_channels * 2 if use_film_scale_modulation else out_channels
        self.cond_encoder = nn.Sequential(nn.Mish(), nn.Linear(cond_dim, film_channels))
        self.conv2 = DiffusionConv1dBlock(out_channels, out_channels, kernel_size, n_groups)
        self.residual_conv = (
            nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        )

    def forward(self, x: Tensor, cond: Tensor) -> Tensor:
        """x (B, in_channels, T), cond (B, cond_dim) → (B, out_channels, T)."""
        out = self.conv1(x)
        film = self.cond_encoder(cond).unsqueeze(-1)
        if self.use_film_scale_modulation:
            out = film[:, : self.out_channels] * out + film[:, self.out_channels :]
        else:
            out = out + film
        return self.conv2(out) + self.residual_conv(x)


class DiffusionConditionalUnet1d(nn.Module):
    """1D UNet over the trajectory's time axis, conditioned on [step embedding, observation features]."""

    def __init__(self, config: DiffusionConfig, global_cond_dim: int) -> None:
        super().__init__()
        self.gradient_checkpointing = config.gradient_checkpointing
        action_dim = config.action_feature.shape[0]
        step_dim = config.diffusion_step_embed_dim
        self.diffusion_step_encoder = nn.Sequential(
            DiffusionSinusoidalPosEmb(step_dim),
            nn.Linear(step_dim, step_dim * 4),
            nn.Mish(),
            nn.Linear(step_dim * 4, step_dim),
        )

        def block(in_channels: int, out_channels: int) -> DiffusionConditionalResidualBlock1d:
            return DiffusionConditionalResidualBlock1d(
                in_channels,
                out_channels,
                cond_dim=step_dim + global_cond_dim,
                kernel_size=config.kernel_size,
                n_groups=config.n_groups,
                use_film_scale_modulation=config.use_film_scale_modulation,
            )

        dims = [action_dim, *config.down_dims]
        levels = list(itertools.pairwise(dims))  # (in, out) channels per level
        self.down_modules = nn.ModuleList()
        for index, (dim_in, dim_out) in enumerate(levels):
            is_last = index == len(levels) - 1
            downsample = nn.Conv1d(dim_out, dim_out, 3, 2, 1) if not is_last else nn.Identity()
            self.down_modules.append(
                nn.ModuleList([block(dim_in, dim_out), block(dim_out, dim_out), downsample])
            )
        deepest = config.down_dims[-1]
        self.mid_modules = nn.ModuleList([block(deepest, deepest), block(deepest, deepest)])
        self.up_modules = nn.ModuleList()
        for dim_out, dim_in in reversed(levels[1:]):
            # Every up level doubles the time axis; the input concatenates the matching skip connection.
            upsample = nn.ConvTranspose1d(dim_out, dim_out, 4, 2, 1)
            self.up_modules.append(
                nn.ModuleList([block(dim_in * 2, dim_out), block(dim_out, dim_out), upsample])
            )
        self.final_conv = nn.Sequential(
            DiffusionConv1dBlock(config.down_dims[0], config.down_dims[0], config.kernel_size),
            nn.Conv1d(config.down_dims[0], action_dim, 1),
        )

    def _run(self, block: nn.Module, x: Tensor, cond: Tensor) -> Tensor:
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(block, x, cond, use_reentrant=False)
        return block(x, cond)

    def forward(self, x: Tensor, timesteps: Tensor, global_cond: Tensor) -> Tensor:
        """x (B, T, action_dim), timesteps (B,), global_cond (B, global_cond_dim) → (B, T, action_dim)."""
        x = x.transpose(1, 2)
        cond = torch.cat([self.diffusion_step_encoder(timesteps), global_cond], dim=-1)
        skips = []
        for first, second, downsample in self.down_modules:
            x = self._run(second, self._run(first, x, cond), cond)
            skips.append(x)
            x = downsample(x)
        for block in self.mid_modules:
            x = self._run(block, x, cond)
        for first, second, upsample in self.up_modules:
            x = torch.cat((x, skips.pop()), dim=1)
            x = upsample(self._run(second, self._run(first, x, cond), cond))
        return self.final_conv(x).transpose(1, 2)


def make_noise_scheduler(config: DiffusionConfig) -> DDPMScheduler | DDIMScheduler:
    scheduler_class = DDPMScheduler if config.noise_scheduler_type == "DDPM" else DDIMScheduler
    return scheduler_class(
        num_train_timesteps=config.num_train_timesteps,
        beta_start=config.beta_start,
        beta_end=config.beta_end,
        beta_schedule=config.beta_schedule,
        clip_sample=config.clip_sample,
        clip_sample_range=config.clip_sample_range,
        prediction_type=config.prediction_type,
    )


class DiffusionModel(nn.Module):
    """Observation encoders + UNet + noise scheduler. Batches carry observation history: state (B, S, D),
    cameras (B, S, 3, H, W) with S = n_obs_steps."""

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__()
        self.config = config
        cameras = list(config.image_features)
        per_frame_dim = config.robot_state_feature.shape[0]
        if cameras:
            if config.use_separate_rgb_encoder_per_camera:
                self.rgb_encoder = nn.ModuleList([DiffusionRgbEncoder(config) for _ in cameras])
                feature_dim = self.rgb_encoder[0].feature_dim
            else:
                self.rgb_encoder = DiffusionRgbEncoder(config)
                feature_dim = self.rgb_encoder.feature_dim
            per_frame_dim += feature_dim * len(cameras)
        if config.env_state_feature is not None:
            per_frame_dim += config.env_state_feature.shape[0]
        self.unet = DiffusionConditionalUnet1d(config, global_cond_dim=per_frame_dim * config.n_obs_steps)
        self.noise_scheduler = make_noise_scheduler(config)
        self.num_inference_steps = (
            config.num_inference_steps
            if config.num_inference_steps is not None
            else config.num_train_timesteps
        )
        # Compile the bound forward rather than the module: the state-dict names must not change.
        self._compiled_unet: Callable[..., Tensor] | None = (
            torch.compile(self.unet.forward, mode=config.compile_mode) if config.compile_model else None
        )

    def denoise(self, sample: Tensor, timesteps: Tensor, global_cond: Tensor) -> Tensor:
        """The UNet's prediction (ε or the clean sample), compiled when ``compile_model`` is set."""
        return (self._compiled_unet or self.unet)(sample, timesteps, global_cond)

    def global_conditioning(self, batch: dict[str, Tensor]) -> Tensor:
        """(B, n_obs_steps · per-frame features): state, camera features (camera order), env state."""
        state = batch[OBS_STATE]
        batch_size, steps = state.shape[:2]
        features = [state]
        cameras = [batch[key] for key in self.config.image_features]
        if cameras:
            if self.config.use_separate_rgb_encoder_per_camera:
                encoded = [
                    encoder(images.flatten(0, 1)).view(batch_size, steps, -1)
                    for encoder, images in zip(self.rgb_encoder, cameras, strict=True)
                ]
                features.extend(encoded)
            else:
                # One backbone pass over all frames of all cameras, (b, s, camera) ordered.
                images = torch.stack(cameras, dim=2).flatten(0, 2)
                features.append(self.rgb_encoder(images).view(batch_size, steps, -1))
        if self.config.env_state_feature is not None:
            features.append(batch[OBS_ENV_STATE])
        return torch.cat(features, dim=-1).flatten(start_dim=1)

    def conditional_sample(
        self, global_cond: Tensor, noise: Tensor | None = None, generator: torch.Generator | None = None
    ) -> Tensor:
        """Denoise a trajectory (B, horizon, action_dim) from ``noise`` (default: fresh Gaussian noise)."""
        shape = (global_cond.shape[0], self.config.horizon, self.config.action_feature.shape[0])
        if noise is None:
            noise = torch.randn(
                shape, generator=generator, dtype=global_cond.dtype, device=global_cond.device
            )
        elif tuple(noise.shape) != shape:
            raise FeatureError(
                f"noise must be {shape} (batch, horizon, action_dim), got {tuple(noise.shape)}"
            )
        sample = noise
        self.noise_scheduler.set_timesteps(self.num_inference_steps)
        for t in self.noise_scheduler.timesteps:
            timesteps = torch.full((shape[0],), int(t), dtype=torch.long, device=sample.device)
            model_output = self.denoise(sample, timesteps, global_cond)
            sample = self.noise_scheduler.step(model_output, t, sample, generator=generator).prev_sample
        return sample

    def executed_slice(self) -> slice:
        """Actions run on the robot: n_action_steps from the current frame, trajectory index n_obs_steps-1."""
        start = self.config.n_obs_steps - 1
        return slice(start, start + self.config.n_action_steps)

    def generate_actions(self, batch: dict[str, Tensor], noise: Tensor | None = None) -> Tensor:
        return self.conditional_sample(self.global_conditioning(batch), noise=noise)[:, self.executed_slice()]

    def compute_loss(self, batch: dict[str, Tensor]) -> Tensor:
        """DDPM training: noise the trajectory at a random step t, regress ε (or the clean trajectory)."""
        global_cond = self.global_conditioning(batch)
        trajectory = batch[ACTION]
        noise = torch.randn(trajectory.shape, device=trajectory.device, dtype=trajectory.dtype)
        timesteps = torch.randint(
            0, self.config.num_train_timesteps, (trajectory.shape[0],), device=trajectory.device
        ).long()
        noisy = self.noise_scheduler.add_noise(trajectory, noise, timesteps)
        prediction = self.unet(noisy, timesteps, global_cond)
        target = noise if self.config.prediction_type == "epsilon" else trajectory
        loss = F.mse_loss(prediction, target, reduction="none")
        if self.config.do_mask_loss_for_padding:
            require_keys(batch, [ACTION_IS_PAD], "do_mask_loss_for_padding needs it")
            loss = loss * ~batch[ACTION_IS_PAD].unsqueeze(-1)
        return loss.mean()


class DiffusionPolicy(Policy):
    """Diffusion Policy (lerobot ``type: diffusion``). Works on normalized batches (see its processors)."""

    config_class = DiffusionConfig
    config: DiffusionConfig

    def __init__(self, config: DiffusionConfig) -> None:
        super().__init__(config)
        self.diffusion = DiffusionModel(config)
        self.reset()

    def _input_keys(self) -> list[str]:
        keys = [OBS_STATE, *self.config.image_features]
        if self.config.env_state_feature is not None:
            keys.append(OBS_ENV_STATE)
        return keys

    def reset(self) -> None:
        self._history: dict[str, deque[Tensor]] = {
            key: deque(maxlen=self.config.n_obs_steps) for key in self._input_keys()
        }
        self._action_queue: deque[Tensor] = deque(maxlen=self.config.n_action_steps)

    def _check_history(self, batch: dict[str, Tensor], why: str) -> None:
        steps = batch[OBS_STATE].shape[1] if batch[OBS_STATE].ndim == 3 else None
        if steps != self.config.n_obs_steps:
            raise FeatureError(
                f"{why} needs 'observation.state' as (B, n_obs_steps={self.config.n_obs_steps}, D), got "
                f"{tuple(batch[OBS_STATE].shape)}; window the dataset with config.observation_delta_indices"
            )

    def forward(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, float]]:
        require_keys(batch, [*self._input_keys(), ACTION], "diffusion training needs them")
        self._check_history(batch, "diffusion training")
        expected = (self.config.horizon, self.config.action_feature.shape[0])
        if tuple(batch[ACTION].shape[1:]) != expected:
            raise FeatureError(
                f"diffusion trains on (B, horizon={expected[0]}, {expected[1]}) actions, got "
                f"{tuple(batch[ACTION].shape)}; window the dataset with config.action_delta_indices"
            )
        loss = self.diffusion.compute_loss(batch)
        return loss, {"loss": loss.item()}

    def _push_observation(self, batch: dict[str, Tensor]) -> dict[str, Tensor]:
        """Append one observation (state (B, D)) to the history and return the stacked history (B, S, ...).
        The first observation of an episode fills the whole history, as lerobot does."""
        for key, history in self._history.items():
            history.extend([batch[key]] * (history.maxlen if not history else 1))
        return {key: torch.stack(list(history), dim=1) for key, history in self._history.items()}

    @torch.no_grad()
    def predict_action_chunk(self, batch: dict[str, Tensor], noise: Tensor | None = None) -> Tensor:
        """The n_action_steps actions to execute (B, n_action_steps, action_dim).

        ``batch`` holds either the observation history (state (B, n_obs_steps, D)) or one observation (state
        (B, D)), which is appended to the policy's history first. ``noise`` (B, horizon, action_dim) fixes the
        initial sample; the DDPM scheduler still draws noise at each step (DDIM does not).
        """
        self.eval()
        require_keys(batch, self._input_keys(), "the policy's input features")
        if batch[OBS_STATE].ndim == 2:
            batch = self._push_observation(batch)
        self._check_history(batch, "diffusion inference")
        return self.diffusion.generate_actions(batch, noise=noise)

    @torch.no_grad()
    def select_action(self, batch: dict[str, Tensor], noise: Tensor | None = None) -> Tensor:
        """One action (B, action_dim) from one observation (state (B, D)); every call extends the history."""
        self.eval()
        require_keys(batch, self._input_keys(), "the policy's input features")
        history = self._push_observation(batch)
        if not self._action_queue:
            chunk = self.diffusion.generate_actions(history, noise=noise)
            self._action_queue.extend(chunk.transpose(0, 1))
        return self._action_queue.popleft()
