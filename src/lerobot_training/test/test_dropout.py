import pytest
import torch
from torch import nn

from lerobot_training.policies.dropout import Dropout, keep_mask


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_each_element_is_kept_with_probability_one_minus_p(p):
    torch.manual_seed(0)
    kept = keep_mask(torch.Size([1000, 1001]), p)  # an odd count: the last 64-bit draw is partly used
    assert kept.shape == (1000, 1001) and kept.dtype == torch.bool
    assert kept.float().mean().item() == pytest.approx(1 - p, abs=0.003)  # ~6 standard deviations
    halves = kept[:, :500].float().mean(), kept[:, 500:].float().mean()  # no position is favoured
    assert abs(halves[0] - halves[1]) < 0.01


def test_training_scales_the_kept_elements_and_is_seeded_like_torch():
    layer = Dropout(0.25).train()
    x = torch.randn(64, 300, requires_grad=True)
    torch.manual_seed(1)
    y = layer(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / 0.75)
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / 0.75)  # gradient flows through kept elements only
    torch.manual_seed(1)
    torch.testing.assert_close(layer(x), y)


def test_evaluation_passes_through_and_checkpoints_are_unchanged():
    layer = Dropout(0.1).eval()
    x = torch.randn(8, 8)
    assert torch.equal(layer(x), x)
    assert isinstance(layer, nn.Dropout) and layer.state_dict() == {}
