"""The training speed-ups keep the results: the fused optimizer presets update like torch's per-parameter
Adam/AdamW, and ACT's channels_last backbone input gives the features of a contiguous one (no timing here:
benchmarks/train.py measures the speed)."""

import copy

import pytest
import torch

from lerobot_training.policies import make_policy, make_policy_config


@pytest.mark.parametrize("name", ["act", "diffusion"])
def test_optimizer_preset_is_fused_and_updates_like_the_unfused_one(name):
    config = make_policy_config(name, device="cpu", pretrained_backbone_weights=None)
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
    twin = copy.deepcopy(model)
    fused = config.make_optimizer([{"params": list(model.parameters())}])
    assert fused.defaults["fused"] is True
    hyper = {key: fused.defaults[key] for key in ("lr", "betas", "eps", "weight_decay")}
    plain = type(fused)(twin.parameters(), **hyper, foreach=False)
    for step in range(5):
        inputs = torch.randn(32, 8, generator=torch.Generator().manual_seed(step))
        for net, optimizer in ((model, fused), (twin, plain)):
            optimizer.zero_grad()
            net(inputs).square().mean().backward()
            optimizer.step()
    for a, b in zip(model.parameters(), twin.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_act_backbone_features_do_not_depend_on_the_memory_format(helpers):
    config = make_policy_config("act", **helpers.tiny_act_options())
    policy = make_policy(config, helpers.dataset_features(cameras=helpers.TINY_CAMERAS))
    backbone = policy.model.backbone.eval()
    images = torch.rand(2, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        contiguous = backbone(images)
        channels_last = backbone(images.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(channels_last, contiguous, rtol=1e-4, atol=1e-5)
