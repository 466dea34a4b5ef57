"""Diffusion Policy: learning, DDPM training pairs (ε target), DDIM inference, executed slice, history and
queue, and the horizon-16 preset."""

import math

import pytest
import torch
import torch.nn.functional as F

from lerobot_training.features import FeatureError
from lerobot_training.policies import (
    fit_features_to_dataset,
    get_policy_type,
    make_policy,
    make_policy_config,
)
from lerobot_training.policies.base import ConfigError
from lerobot_training.policies.diffusion import DiffusionConfig


def tiny_diffusion(helpers, **overrides):
    config = make_policy_config("diffusion", **helpers.tiny_diffusion_options(**overrides))
    return make_policy(config, helpers.dataset_features(cameras=helpers.TINY_CAMERAS))


def observations(batch):
    return {k: v for k, v in batch.items() if k.startswith("observation")}


def test_training_reduces_loss(helpers):
    policy = tiny_diffusion(helpers)
    for encoder in policy.diffusion.rgb_encoder:  # the task depends on the state only: spare the CPU
        encoder.backbone.requires_grad_(False)
    steps = 200
    optimizer = policy.config.make_optimizer(policy.get_optim_params())
    scheduler = policy.config.make_scheduler(optimizer, steps)
    policy.train()
    losses = []
    for _ in range(steps):
        loss, parts = policy(helpers.diffusion_batch(16, 2, 8))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        scheduler.step()
        losses.append(parts["loss"])
    first, last = sum(losses[:20]) / 20, sum(losses[-20:]) / 20
    assert first > 0.8  # ε-prediction starts near Var(ε) = 1
    assert last < 0.6 * first, (first, last)


def test_every_parameter_gets_a_gradient(helpers):
    # 64×64 images: a 2×2 feature map, so that the spatial softmax (hence the backbone) depends on the image.
    config = make_policy_config(
        "diffusion", **helpers.tiny_diffusion_options(use_film_scale_modulation=False)
    )
    policy = make_policy(config, helpers.dataset_features(cameras={"front": (64, 64)}))
    policy.train()
    loss, _ = policy(helpers.diffusion_batch(4, 2, 8, image_size=(64, 64)))
    loss.backward()
    assert not [n for n, p in policy.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]


def test_gradient_checkpointing_gives_the_same_gradients(helpers):
    plain = tiny_diffusion(helpers)
    checkpointed = tiny_diffusion(helpers, gradient_checkpointing=True)
    checkpointed.load_state_dict(plain.state_dict())
    batch = helpers.diffusion_batch(4, 2, 8)
    gradients, block_runs = [], []
    for policy in (plain, checkpointed):
        policy.train()
        runs = []
        policy.diffusion.unet.mid_modules[0].conv1.register_forward_hook(lambda *_, runs=runs: runs.append(1))
        torch.manual_seed(5)
        policy(batch)[0].backward()
        gradients.append({n: p.grad for n, p in policy.named_parameters()})
        block_runs.append(len(runs))
    assert block_runs == [1, 2]  # checkpointed blocks are recomputed during the backward pass
    for name, gradient in gradients[0].items():
        torch.testing.assert_close(gradients[1][name], gradient, msg=name)


def squaredcos_cap_v2_alphas_cumprod(steps: int) -> torch.Tensor:
    """ᾱ_t of the cosine schedule (Nichol & Dhariwal 2021), computed here independently of diffusers."""

    def alpha_bar(u: float) -> float:
        return math.cos((u + 0.008) / 1.008 * math.pi / 2) ** 2

    betas = [min(1 - alpha_bar((i + 1) / steps) / alpha_bar(i / steps), 0.999) for i in range(steps)]
    return torch.cumprod(1 - torch.tensor(betas, dtype=torch.float64), dim=0)


@pytest.mark.parametrize("prediction_type", ["epsilon", "sample"])
def test_ddpm_training_noises_actions_and_regresses_the_noise(helpers, prediction_type):
    policy = tiny_diffusion(helpers, prediction_type=prediction_type)
    policy.train()
    batch = helpers.diffusion_batch(6, 2, 8)
    torch.manual_seed(7)
    loss = policy.diffusion.compute_loss(batch)

    # The same draws in lerobot's order: conditioning, then ε ~ N(0, I), then t ~ U{0..99}.
    torch.manual_seed(7)
    cond = policy.diffusion.global_conditioning(batch)
    noise = torch.randn(batch["action"].shape)
    timesteps = torch.randint(0, 100, (6,))
    alphas_cumprod = squaredcos_cap_v2_alphas_cumprod(100)[timesteps].float().view(-1, 1, 1)
    noisy = alphas_cumprod.sqrt() * batch["action"] + (1 - alphas_cumprod).sqrt() * noise
    prediction = policy.diffusion.unet(noisy, timesteps, cond)
    target = noise if prediction_type == "epsilon" else batch["action"]
    torch.testing.assert_close(loss, F.mse_loss(prediction, target), rtol=1e-5, atol=1e-6)


def unet_timesteps(policy) -> list:
    seen = []
    policy.diffusion.unet.register_forward_hook(lambda _m, args, _out: seen.append(int(args[1][0])))
    return seen


def test_ddim_inference_takes_the_configured_steps_and_is_deterministic(helpers):
    policy = tiny_diffusion(helpers, noise_scheduler_type="DDIM", num_inference_steps=10)
    seen = unet_timesteps(policy)
    batch = observations(helpers.diffusion_batch(2, 2, 8))
    noise = torch.randn(2, 8, 6)
    first = policy.predict_action_chunk(batch, noise=noise)
    assert seen == [90, 80, 70, 60, 50, 40, 30, 20, 10, 0]
    torch.manual_seed(123)  # DDIM (η = 0) draws nothing: another seed, same actions
    assert torch.equal(policy.predict_action_chunk(batch, noise=noise), first)


def test_ddpm_inference_runs_every_training_step_and_samples_noise(helpers):
    policy = tiny_diffusion(helpers, num_train_timesteps=20)
    seen = unet_timesteps(policy)
    batch = observations(helpers.diffusion_batch(2, 2, 8))
    noise = torch.randn(2, 8, 6)
    first = policy.predict_action_chunk(batch, noise=noise)
    assert seen == list(range(19, -1, -1))
    assert not torch.equal(policy.predict_action_chunk(batch, noise=noise), first)  # stochastic steps
    assert first.abs().max() <= 1.0 + 1e-6  # clip_sample keeps actions in the normalized range


@pytest.mark.parametrize(("n_obs_steps", "start"), [(1, 0), (2, 1), (3, 2)])
def test_executes_actions_from_the_current_frame(helpers, n_obs_steps, start):
    policy = tiny_diffusion(
        helpers, n_obs_steps=n_obs_steps, n_action_steps=3, noise_scheduler_type="DDIM", num_inference_steps=5
    )
    batch = observations(helpers.diffusion_batch(2, n_obs_steps, 8))
    noise = torch.randn(2, 8, 6)
    trajectory = policy.diffusion.conditional_sample(policy.diffusion.global_conditioning(batch), noise=noise)
    chunk = policy.predict_action_chunk(batch, noise=noise)
    assert torch.equal(chunk, trajectory[:, start : start + 3])
    assert policy.config.action_delta_indices[start] == 0  # trajectory index `start` is the current frame


def test_select_action_keeps_history_and_replans_when_the_queue_is_empty(helpers):
    policy = tiny_diffusion(helpers, n_action_steps=3, noise_scheduler_type="DDIM", num_inference_steps=5)
    seen = unet_timesteps(policy)
    frames = [observations(helpers.act_batch(2, 1)) for _ in range(4)]  # single frames: state (B, D)
    noise = torch.randn(2, 8, 6)
    actions = [policy.select_action(frame, noise=noise) for frame in frames]
    assert len(seen) == 2 * 5  # planned at frames 0 and 3

    def history(*indices):
        return {key: torch.stack([frames[i][key] for i in indices], dim=1) for key in frames[0]}

    # Frame 0 fills the whole history; frame 3 plans from (frame 2, frame 3).
    expected_first = policy.diffusion.generate_actions(history(0, 0), noise=noise)
    expected_second = policy.diffusion.generate_actions(history(2, 3), noise=noise)
    for step in range(3):
        assert torch.equal(actions[step], expected_first[:, step])
    assert torch.equal(actions[3], expected_second[:, 0])


def test_batch_without_history_is_an_error(helpers):
    policy = tiny_diffusion(helpers)
    policy.train()
    batch = helpers.diffusion_batch(2, 2, 8)
    batch["observation.state"] = batch["observation.state"][:, -1]
    with pytest.raises(FeatureError, match="n_obs_steps=2"):
        policy(batch)


def test_horizon16_preset_matches_older_lerobot_checkpoints(helpers):
    config = DiffusionConfig.horizon16()
    assert (config.horizon, config.n_action_steps, config.crop_shape) == (16, 8, (84, 84))
    assert config.use_group_norm and not config.use_separate_rgb_encoder_per_camera
    fit_features_to_dataset(config, helpers.dataset_features(cameras={"top": (96, 96)}))
    with torch.device("meta"):
        state_dict = get_policy_type("diffusion").policy_class(config).state_dict()
    # One shared encoder (no ".0."), group norms (no running statistics), a 3×3 map for 84×84 crops.
    assert "diffusion.rgb_encoder.backbone.1.weight" in state_dict
    assert not [name for name in state_dict if "running_mean" in name or "rgb_encoder.0." in name]
    assert state_dict["diffusion.rgb_encoder.pool.pos_grid"].shape == (9, 2)
    cond_dim = (6 + 64) * 2 + 128  # (state + keypoint features) × n_obs_steps + step embedding
    assert state_dict["diffusion.unet.down_modules.0.0.cond_encoder.1.weight"].shape == (1024, cond_dim)


def test_backbone_defaults_to_lerobots_imagenet_weights_except_with_group_norm():
    # lerobot 0.6.1's default (see test_act.py); group norm cannot use them, so the horizon-16 preset (group
    # norm, as older lerobot releases) has none, and asking for both is an error that says what to change.
    assert make_policy_config("diffusion").pretrained_backbone_weights == "ResNet18_Weights.IMAGENET1K_V1"
    assert DiffusionConfig.horizon16().pretrained_backbone_weights is None
    with pytest.raises(ConfigError, match="set pretrained_backbone_weights=null or use_group_norm=false"):
        make_policy_config("diffusion", use_group_norm=True)


def test_horizon16_preset_trains_and_crops(helpers):
    options = helpers.tiny_diffusion_options(horizon=16, n_action_steps=8, crop_shape=(12, 12))
    config = DiffusionConfig.horizon16(**options)
    policy = make_policy(config, helpers.dataset_features(cameras=helpers.TINY_CAMERAS))
    policy.train()
    loss, _ = policy(helpers.diffusion_batch(2, 2, 16))
    loss.backward()
    assert policy.predict_action_chunk(observations(helpers.diffusion_batch(2, 2, 16))).shape == (2, 8, 6)


def test_config_rules(helpers):
    with pytest.raises(ConfigError, match="multiple of 4"):
        make_policy_config("diffusion", horizon=10)
    with pytest.raises(ConfigError, match="noise_scheduler_type"):
        make_policy_config("diffusion", noise_scheduler_type="EULER")
    assert make_policy_config("diffusion", resize_shape=[100, 120], crop_ratio=0.9).crop_shape == (90, 108)
    with pytest.raises(FeatureError, match="crop_shape"):
        tiny_diffusion(helpers, crop_shape=(20, 20))  # larger than the 16×16 camera
