"""The training loss (method.md §6): focal loss on the final and the image-level score."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def focal_loss(scores: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0, alpha: float = 1.0,
               form: str = "official") -> torch.Tensor:
    """Binary focal loss, mean over the batch.

    ``form="official"`` reproduces the released training code: the scores, already in [0, 1],
    are fed to ``BCEWithLogits`` as if they were logits; ``pt = exp(-bce)`` and the loss is
    ``alpha * (1 - pt)**gamma * bce``. The released weights were trained with it.
    ``form="probability"`` is the textbook focal loss on probabilities.
    """
    labels = labels.to(scores.dtype)
    if form == "official":
        bce = F.binary_cross_entropy_with_logits(scores, labels, reduction="none")
    elif form == "probability":
        bce = F.binary_cross_entropy(scores.clamp(1e-6, 1 - 1e-6), labels, reduction="none")
    else:
        raise ValueError(f"form must be 'official' or 'probability', got {form!r}")
    pt = torch.exp(-bce)
    return (alpha * (1 - pt) ** gamma * bce).mean()


def inctrl_loss(output, labels: torch.Tensor, form: str = "official") -> torch.Tensor:
    """Eq. 10: FL(s(x), y) + FL(s_i(x), y)."""
    return focal_loss(output.score, labels, form=form) + focal_loss(output.image_score, labels, form=form)
