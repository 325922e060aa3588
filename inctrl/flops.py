"""Arithmetic of one query: floating-point operations of the image encoder and of Eq. 1.

Counted from the layer shapes, 2 operations per multiply-add (torch's ``FlopCounterMode``
misses the fused attention kernel). With E the encoder's FLOPs per image and R_K those of
Eq. 1 per query, E / (E + R_K) is the speed ratio of InCTRL to its bare encoder to expect
if Eq. 1 ran at the encoder's arithmetic rate (the heads add less than 0.1%).
"""

from __future__ import annotations

import torch
from torch import nn


def encoder_flops(visual) -> int:
    """FLOPs of one image through an open_clip image tower.

    A ViT: the patch embedding, then per block the q/k/v/out projections, the two attention
    products and the MLP, then the output projection. A timm tower (a CNN): every convolution
    and linear layer of one forward (:func:`_layer_flops`).

    Args:
        visual: the open_clip image tower (``model.backbone.clip.visual``).

    Returns:
        FLOPs per image.
    """
    if not hasattr(visual, "transformer"):
        return _layer_flops(visual)
    conv = visual.conv1
    grid = visual.grid_size[0] * visual.grid_size[1]
    tokens = grid + 1
    macs = grid * conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1] * conv.out_channels
    for block in visual.transformer.resblocks:
        width = block.attn.embed_dim
        mlp = block.mlp.c_fc.out_features
        macs += tokens * (4 * width * width + 2 * width * mlp) + 2 * tokens * tokens * width
    if visual.proj is not None:
        macs += visual.proj.numel()
    return 2 * macs


def _layer_flops(visual) -> int:
    """FLOPs of the convolutions and linear layers of one forward of a blank image.

    Each layer costs 2 x its output elements x the multiply-adds per output element (input
    channels per group x kernel area for a convolution, input features for a linear layer);
    normalisations and activations are not counted.
    """
    size = visual.image_size
    macs = 0

    def count(module, _inputs, output):
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            macs += output.numel() * (module.in_channels // module.groups) * kh * kw
        else:
            macs += output.numel() * module.in_features

    layers = [m for m in visual.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    handles = [m.register_forward_hook(count) for m in layers]
    try:
        with torch.no_grad():
            visual(torch.zeros(1, 3, *size, device=next(visual.parameters()).device))
    finally:
        for handle in handles:
            handle.remove()
    return 2 * macs


def patch_distance_flops(n_layers: int, n_patches: int, width: int, shots: int) -> int:
    """FLOPs of Eq. 1 for one query.

    The dot products of each of its N patches with all K*N prompt patches, in every tapped
    layer; the max and the norms are negligible and not counted.

    Args:
        n_layers: L, the tapped layers.
        n_patches: N, patches per image.
        width: D, the token width.
        shots: K, prompts per query.

    Returns:
        FLOPs per query.
    """
    return 2 * n_layers * n_patches * shots * n_patches * width


def query_flops(model, shots: int) -> dict[str, int]:
    """FLOPs of one query of an InCTRL model with K = ``shots`` prompts.

    Args:
        model: an :class:`~inctrl.model.InCTRL`.
        shots: K.

    Returns:
        ``{"encoder": E, "patch_distances": R_K}``.
    """
    visual = model.backbone.clip.visual
    width = model.backbone.token_width  # D: a ViT's width, a trunk's widest tapped stage
    return {"encoder": encoder_flops(visual),
            "patch_distances": patch_distance_flops(len(model.backbone.taps), model.backbone.n_patches,
                                                    width, shots)}
