"""What pretraining optimises: the two objectives and the forward pass they read.

* :func:`encode_tapped` runs open_clip's ViT at any multiple of the patch size (most steps
  are at a lower resolution, with :func:`resized_positions`), returning g(x) and the tapped
  tokens as :class:`inctrl.backbone.Backbone` does at 240 px;
* :func:`contrastive_loss` is CLIP's image-caption objective (so the text prior s_a means
  something);
* :func:`defect_loss` pushes the in-context patch residual (:func:`patch_residual`, Eq. 1-2)
  up on defective patches and down elsewhere.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .patch_distance import nearest_prompt_distance

DEFECT_FRACTION = 0.03  # a patch counts as defective when the mask covers > 3% of it


def resized_positions(visual: nn.Module, grid: int) -> torch.Tensor:
    """The ViT's position embeddings for a ``grid`` x ``grid`` patch grid.

    The class position is kept; the patch positions are resized bicubically.

    Args:
        visual: an open_clip ``VisionTransformer``.
        grid: patches per side.

    Returns:
        [1 + grid*grid, D] position embeddings (the ViT's own when ``grid`` is its native one).
    """
    pos = visual.positional_embedding
    native = int(visual.grid_size[0])
    if grid == native:
        return pos
    width = pos.shape[-1]
    patches = pos[1:].reshape(1, native, native, width).permute(0, 3, 1, 2)
    patches = F.interpolate(patches, size=(grid, grid), mode="bicubic", align_corners=False)
    return torch.cat([pos[:1], patches.permute(0, 2, 3, 1).reshape(grid * grid, width)])


def encode_tapped(visual: nn.Module, pixels: torch.Tensor, taps) -> tuple[torch.Tensor, torch.Tensor]:
    """open_clip's ViT forward at any multiple of the patch size.

    The same outputs as :meth:`inctrl.backbone.Backbone.encode_images` gives at 240 px.

    Args:
        visual: an open_clip ``VisionTransformer``.
        pixels: [B, 3, H, W] normalised images, H = W a multiple of the patch size.
        taps: 1-based indices of the tapped blocks.

    Returns:
        ``(g(x), tokens)``: [B, E] and the raw tokens of the tapped blocks [L, B, N, D]
        (class token dropped).
    """
    x = visual.conv1(pixels)  # [B, D, g, g]
    grid = x.shape[-1]
    x = x.flatten(2).transpose(1, 2)  # [B, N, D]
    cls = visual.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], dim=1) + resized_positions(visual, grid).to(x.dtype)
    x = visual.ln_pre(x)
    tapped = []
    for depth, block in enumerate(visual.transformer.resblocks, start=1):
        x = block(x)
        if depth in taps:
            tapped.append(x[:, 1:])
    pooled = visual.ln_post(x[:, 0]) @ visual.proj
    return pooled, torch.stack(tapped)


def patch_residual(tokens: torch.Tensor) -> torch.Tensor:
    """Eq. 1-2 for G (prompt, query) pairs, one prompt image per query.

    Eq. 1 is :func:`inctrl.patch_distance.nearest_prompt_distance`, the one InCTRL scores
    with, so pretraining shapes exactly the quantity the detector reads.

    Args:
        tokens: [L, 2G, N, D] raw patch tokens, prompts at even rows, their queries at odd.

    Returns:
        [G, N] M: each query patch's distance 0.5 (1 - cos) to its nearest prompt patch,
        averaged over the tapped layers, in [0, 1].
    """
    t = F.normalize(tokens, dim=-1)
    return nearest_prompt_distance(t[:, 1::2], t[:, 0::2], unit_query=True).mean(dim=0)


def contrastive_loss(image: torch.Tensor, text: torch.Tensor, captions: list[str], scale: torch.Tensor):
    """Symmetric InfoNCE; every pair of photos with identical captions counts as positive.

    Args:
        image: [B, E] image embeddings (normalised here).
        text: [B, E] caption embeddings (normalised here).
        captions: the B captions.
        scale: the logit scale (CLIP's temperature).

    Returns:
        The loss, a scalar tensor.
    """
    logits = scale * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).T
    index = {c: i for i, c in enumerate(dict.fromkeys(captions))}
    ids = torch.tensor([index[c] for c in captions], device=logits.device)
    same = (ids[:, None] == ids[None, :]).float()
    target = same / same.sum(dim=1, keepdim=True)
    return 0.5 * (
        -(target * logits.log_softmax(1)).sum(1).mean() - (target * logits.log_softmax(0)).sum(0).mean()
    )


def defect_loss(residual: torch.Tensor, fraction: torch.Tensor, affine: torch.Tensor) -> torch.Tensor:
    """Balanced logistic loss of the patch residual against the defect mask.

    A patch is positive when the mask covers more than :data:`DEFECT_FRACTION` of it and
    negative when it covers none; patches the mask barely touches are ignored. Positives and
    negatives weigh half each (negatives alone when a batch has no defect).

    Args:
        residual: [G, N] M (:func:`patch_residual`).
        fraction: [G, N] the part of each patch the defect mask covers, in [0, 1].
        affine: [2] (bias, log-scale): the logit is (M - bias) * exp(log-scale).

    Returns:
        The loss, a scalar tensor.
    """
    logit = (residual - affine[0]) * affine[1].exp()
    positive, negative = fraction > DEFECT_FRACTION, fraction == 0
    loss = F.binary_cross_entropy_with_logits(logit, positive.float(), reduction="none")
    neg = loss[negative].mean()
    return 0.5 * (loss[positive].mean() + neg) if positive.any() else neg
