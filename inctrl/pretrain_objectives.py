"""What pretraining optimises: the objectives and the forward pass they read.

* :func:`encode_tapped` runs open_clip's ViT at any multiple of the patch size (most steps
  are at a lower resolution, with :func:`resized_positions`), returning g(x) and the tapped
  tokens as :class:`inctrl.backbone.Backbone` does at 240 px;
* :func:`contrastive_loss` is CLIP's image-caption objective (so the text prior s_a means
  something);
* :func:`defect_loss` pushes the in-context patch residual (:func:`patch_residual`, Eq. 1-2)
  up on defective patches and down elsewhere;
* :func:`image_defect_loss` (the v2 recipe) is its image-level twin: the distance of a
  query's g(x) to the mean g of its K prompts (:func:`image_residual`) must separate
  defective queries from normal ones;
* :func:`masked_pixel_loss` (the v2 recipe) asks the tapped tokens of a photo whose patches
  are partly masked (:func:`encode_tapped` with ``masked``) to give back every patch's
  normalised pixels (:func:`patch_pixels`) through :class:`PixelDecoder`;
* :func:`freeze_front` keeps the first blocks of the image tower out of training.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .patch_distance import nearest_prompt_distance

DEFECT_FRACTION = 0.03  # a patch counts as defective when the mask covers > 3% of it
IMAGE_RANK_SCALE = 2.0  # logits per batch standard deviation of the log-distances


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


def encode_tapped(
    visual: nn.Module, pixels: torch.Tensor, taps, masked: torch.Tensor | None = None, mask_token=None
) -> tuple[torch.Tensor, torch.Tensor]:
    """open_clip's ViT forward at any multiple of the patch size.

    The same outputs as :meth:`inctrl.backbone.Backbone.encode_images` gives at 240 px.

    Args:
        visual: an open_clip ``VisionTransformer``.
        pixels: [B, 3, H, W] normalised images, H = W a multiple of the patch size.
        taps: 1-based indices of the tapped blocks.
        masked: optional [B, N] bool: these patches' embeddings are replaced by ``mask_token``
            (before the position embeddings, as in masked-image modelling).
        mask_token: [D] the embedding of a masked patch (needed with ``masked``).

    Returns:
        ``(g(x), tokens)``: [B, E] and the raw tokens of the tapped blocks [L, B, N, D]
        (class token dropped).
    """
    x = visual.conv1(pixels)  # [B, D, g, g]
    grid = x.shape[-1]
    x = x.flatten(2).transpose(1, 2)  # [B, N, D]
    if masked is not None:
        x = torch.where(masked[..., None], mask_token.to(x.dtype), x)
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


def group_patch_residual(tokens: torch.Tensor, shots: int) -> torch.Tensor:
    """Eq. 1-2 for G in-context groups of K prompts and one query.

    Args:
        tokens: [L, G*(K+1), N, D] raw patch tokens, group after group, each group's K
            prompts first and its query last.
        shots: K.

    Returns:
        [G, N] M: each query patch's distance 0.5 (1 - cos) to its nearest patch among its
        K prompts, averaged over the tapped layers.
    """
    n_layers, images, n_patches, dim = tokens.shape
    t = F.normalize(tokens, dim=-1).reshape(n_layers, images // (shots + 1), shots + 1, n_patches, dim)
    prompts = t[:, :, :shots].reshape(n_layers, -1, shots * n_patches, dim)
    return nearest_prompt_distance(t[:, :, shots], prompts, unit_query=True).mean(dim=0)


def image_residual(embeddings: torch.Tensor, shots: int) -> torch.Tensor:
    """The image-level in-context residual of G groups: |g(q) - mean_k g(p_k)|, unit embeddings.

    Args:
        embeddings: [G*(K+1), E] g(x), grouped as in :func:`group_patch_residual`.
        shots: K.

    Returns:
        [G] the distance of each query's unit embedding to the mean of its prompts' (in [0, 2]).
    """
    g = F.normalize(embeddings, dim=-1).reshape(-1, shots + 1, embeddings.shape[-1])
    return torch.linalg.vector_norm(g[:, shots] - g[:, :shots].mean(dim=1), dim=-1)


def image_defect_loss(distance: torch.Tensor, defective: torch.Tensor) -> torch.Tensor:
    """Ranking loss of the image residual: defective queries must lie farther from their prompts.

    For every (defective, normal) pair of queries in the batch, a logistic loss on the
    difference of their log-distances, measured in standard deviations of the batch's
    log-distances (:data:`IMAGE_RANK_SCALE` logits per deviation), i.e. a smooth 1 - AUROC of
    the residual's length.

    Why the length of the residual, and not a learned probe of the residual vector: InCTRL's
    s_i is a head trained on a few auxiliary categories, then applied to products it has never
    seen. A linear probe would let the backbone mark "defect" as one fixed direction of g(x),
    which is what the captions already ask of it and what did not transfer (s_i stayed at chance
    on the held-out families). The length asks for something direction-free instead: a
    defective photo must lie farther from its own prompts than another normal photo of a
    product does from its own, whatever the defect, the product or the light. The adapter and
    MLP head that read F_x can pick that up, as the patch score picks up the same thing per
    patch (:func:`defect_loss`, of which this is the twin).

    Why a ranking of log-distances rather than a logistic loss on ``distance`` with a learned
    bias and scale (as :func:`defect_loss` does per patch): a threshold learned at the
    backbone's small learning rate lags behind the distances (in a first 200-step v2 run that
    loss stayed above chance), and the backbone can then lower it by moving all distances
    together, e.g. by making g(x) more sensitive to light and jitter. A ranking of
    log-distances is unchanged when all distances grow together, so only separating them pays;
    every pair weighs the same, so the loss does not depend on the batch's share of defective
    queries.

    Why in standard deviations: with a fixed scale (4 logits per unit of log-distance, the
    first v2 run) the loss also falls when the log-distances merely bunch together. With the
    v1 weights they spread by 0.56 (std), so a pair's logit spread by ~3 and the loss sat at
    0.86, above the ln 2 of a constant score, while their AUROC was 0.65: squeezing the spread
    paid more than ordering it, and the run's image residual did not improve. Standardised,
    the loss is unchanged by any increasing affine map of the log-distances: only their order
    and separation count.

    Args:
        distance: [G] :func:`image_residual`.
        defective: [G] bool, the query has a defect.

    Returns:
        The loss, a scalar tensor (0 with gradients when the batch has a single class).
    """
    z = torch.log(distance.clamp_min(1e-6))
    if defective.all() or not defective.any():
        return 0.0 * z.sum()
    z = (z - z.mean()) / z.std().clamp_min(1e-6)
    gap = z[defective][:, None] - z[~defective][None, :]  # [defective, normal]
    return F.softplus(-IMAGE_RANK_SCALE * gap).mean()


def patch_pixels(pixels: torch.Tensor, patch: int = 16) -> torch.Tensor:
    """The target of :func:`masked_pixel_loss`: every patch's pixels, normalised per patch.

    Each patch is centred and scaled to unit variance (as in MAE's normalised-pixel target),
    so the target is the patch's texture, not its brightness.

    Args:
        pixels: [B, 3, H, W] images.
        patch: the patch side.

    Returns:
        [B, N, 3*patch*patch] normalised patches, row-major over the grid.
    """
    b, c = pixels.shape[:2]
    cols = F.unfold(pixels, patch, stride=patch).transpose(1, 2)  # [B, N, c*p*p]
    mean, var = cols.mean(dim=-1, keepdim=True), cols.var(dim=-1, keepdim=True)
    return (cols - mean) / (var + 1e-6).sqrt()


class PixelDecoder(nn.Module):
    """A light decoder: one linear map from a patch's tapped tokens (all layers) to its pixels.

    Deliberately linear and per patch: whatever texture it reconstructs must already be in
    the tapped tokens, which are what InCTRL's patch residual compares. It starts at zero, so
    a pretrained backbone gets no gradient from it until it has learned something.

    Args:
        layers: the number of tapped layers L.
        width: the token width D.
        patch: the patch side.
    """

    def __init__(self, layers: int, width: int, patch: int = 16):
        super().__init__()
        self.linear = nn.Linear(layers * width, 3 * patch * patch)
        nn.init.zeros_(self.linear.weight)
        nn.init.zeros_(self.linear.bias)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """[L, B, N, D] tapped tokens -> [B, N, 3*patch*patch] predicted normalised pixels."""
        n_layers, b, n, d = tokens.shape
        return self.linear(tokens.permute(1, 2, 0, 3).reshape(b, n, n_layers * d))


def masked_pixel_loss(prediction: torch.Tensor, target: torch.Tensor, masked: torch.Tensor) -> torch.Tensor:
    """Mean squared error of the predicted normalised pixels, over every patch.

    Masked patches (the model saw only their neighbours) and visible ones (their own tokens must
    keep their texture, which is what the patch residual matches) weigh half each.

    Args:
        prediction: [B, N, P] :class:`PixelDecoder` output.
        target: [B, N, P] :func:`patch_pixels`.
        masked: [B, N] bool, the patches that were masked at the input.

    Returns:
        The loss, a scalar tensor.
    """
    error = (prediction - target).pow(2).mean(dim=-1)  # [B, N]
    return 0.5 * (error[masked].mean() + error[~masked].mean())


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


def freeze_front(visual: nn.Module, blocks: int) -> None:
    """Stop training the first ``blocks`` blocks of an open_clip image tower and all before them.

    Args:
        visual: ``clip.visual``.
        blocks: how many blocks; 0 leaves everything trainable.

    Raises:
        ValueError: ``blocks`` is not below the tower's depth (the last block must train).
    """
    resblocks = visual.transformer.resblocks
    if not 0 <= blocks < len(resblocks):
        raise ValueError(f"frozen_blocks must be in [0, {len(resblocks) - 1}] for a tower of "
                         f"{len(resblocks)} blocks, got {blocks}")
    if blocks == 0:
        return
    front = [visual.conv1, visual.ln_pre, *resblocks[:blocks]]
    for module in front:
        module.requires_grad_(False)
    visual.class_embedding.requires_grad_(False)
    visual.positional_embedding.requires_grad_(False)
