import math

import pytest
import torch

from inctrl.loss import focal_loss, inctrl_loss
from inctrl.model import InCTRLOutput


def official_focal(z, y):
    # BCE-with-logits applied to a score z in [0, 1], by hand.
    b = math.log(1 + math.exp(-z)) if y == 1 else math.log(1 + math.exp(z))
    return (1 - math.exp(-b)) ** 2 * b


def test_official_focal_loss_by_hand():
    scores, labels = torch.tensor([0.7, 0.2, 0.9]), torch.tensor([1.0, 0.0, 0.0])
    expected = sum(official_focal(z, y) for z, y in zip(scores.tolist(), labels.tolist())) / 3
    assert focal_loss(scores, labels).item() == pytest.approx(expected, rel=1e-6)


def test_probability_focal_loss_by_hand():
    z, y = 0.7, 1.0
    b = -math.log(z)
    expected = (1 - z) ** 2 * b
    assert focal_loss(torch.tensor([z]), torch.tensor([y]), form="probability").item() == pytest.approx(
        expected, rel=1e-5)
    with pytest.raises(ValueError, match="form"):
        focal_loss(torch.tensor([z]), torch.tensor([y]), form="other")


def test_inctrl_loss_sums_final_and_image_terms():
    s, s_i, y = torch.tensor([0.6, 0.3]), torch.tensor([0.8, 0.1]), torch.tensor([1.0, 0.0])
    zeros = torch.zeros(2)
    out = InCTRLOutput(s, s_i, zeros, zeros, zeros, zeros, zeros, zeros)
    assert inctrl_loss(out, y).item() == pytest.approx((focal_loss(s, y) + focal_loss(s_i, y)).item())


def test_inctrl_loss_terms_are_what_training_logs():
    s, s_i, y = torch.tensor([0.6, 0.3]), torch.tensor([0.8, 0.1]), torch.tensor([1.0, 0.0])
    zeros = torch.zeros(2)
    out = InCTRLOutput(s, s_i, zeros, zeros, zeros, zeros, zeros, zeros)
    loss, final, image = inctrl_loss(out, y, terms=True)
    assert torch.equal(final, focal_loss(s, y)) and torch.equal(image, focal_loss(s_i, y))
    assert torch.equal(loss, final + image) and torch.equal(loss, inctrl_loss(out, y))
    prob = inctrl_loss(out, y, form="probability")
    assert prob.item() == pytest.approx((focal_loss(s, y, form="probability")
                                         + focal_loss(s_i, y, form="probability")).item())


def test_the_image_term_s_weight_scales_only_that_term():
    s, s_i, y = torch.tensor([0.6, 0.3]), torch.tensor([0.8, 0.1]), torch.tensor([1.0, 0.0])
    zeros = torch.zeros(2)
    out = InCTRLOutput(s, s_i, zeros, zeros, zeros, zeros, zeros, zeros)
    loss, final, image = inctrl_loss(out, y, terms=True, image_weight=0.25)
    assert torch.equal(final, focal_loss(s, y))
    assert image.item() == pytest.approx(0.25 * focal_loss(s_i, y).item())
    assert torch.equal(loss, final + image)
    assert torch.equal(inctrl_loss(out, y, image_weight=0), focal_loss(s, y))
