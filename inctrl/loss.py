"""The training loss (book/equations.md §6): focal loss on the final and the image-level score."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def focal_loss(scores: torch.Tensor, labels: torch.Tensor, gamma: float = 2.0, alpha: float = 1.0,
               form: str = "official") -> torch.Tensor:
    """Binary focal loss FL, each term of the loss (Eq. 9-10), mean over the batch.

    ``form="official"`` reproduces the released training code: the scores, already in [0, 1],
    are fed to ``BCEWithLogits`` as if they were logits; ``pt = exp(-bce)`` and the loss is
    ``alpha * (1 - pt)**gamma * bce``. The released weights were trained with it.
    ``form="probability"`` is the textbook focal loss on probabilities.

    Args:
        scores: [B] scores in [0, 1].
        labels: [B] 1 for anomalous, 0 for normal.
        gamma: the focusing exponent.
        alpha: the weight of every term.
        form: ``"official"`` or ``"probability"``.

    Returns:
        The mean loss, a scalar tensor.
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


def inctrl_loss(output, labels: torch.Tensor, form: str = "official", *, terms: bool = False,
                image_weight: float = 1.0):
    """Eq. 9-10: the training loss FL(s(x), y) + FL(s_i(x), y).

    Args:
        output: the model's output for B queries: ``score`` s(x) [B] and ``image_score``
            s_i(x) [B] (an :class:`~inctrl.model.InCTRLOutput`).
        labels: [B] 1 for anomalous, 0 for normal.
        form: the focal form, ``"official"`` (the released training) or ``"probability"``.
        terms: also return the two terms (training logs them).
        image_weight: the weight of FL(s_i(x), y) (the method: 1). 0 leaves it out, for a
            model trained without the image residual (:mod:`inctrl.ablation`) or one whose
            s_i learns only through the final score.

    Returns:
        The loss (a scalar tensor); with ``terms``, ``(loss, FL(s(x), y), weighted FL(s_i(x), y))``.
    """
    final = focal_loss(output.score, labels, form=form)
    if image_weight == 0:
        image = final.new_zeros(())
        return (final, final, image) if terms else final
    image = image_weight * focal_loss(output.image_score, labels, form=form)  # 1 * x is exact
    loss = final + image
    return (loss, final, image) if terms else loss
