"""Chapter 2's patch lookups: a query patch's nearest prompt patch and a map's largest cell.

The nearest prompt patch is the one Eq. 1 measures the distance to; the largest cell of a
patch map is the patch that sets s_p.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["NearestPatch", "argmax_in_corner", "nearest_prompt_patch"]


@dataclass
class NearestPatch:
    """The nearest prompt patch of one query patch at one tapped layer.

    Attributes:
        query: the query's index.
        patch: the query patch (row-major on the grid).
        prompt: the prompt image (index into the bank's prompts).
        prompt_patch: its patch (row-major on the grid).
        distance: 0.5 * (1 - cos) of Eq. 1, in [0, 1].
    """

    query: int
    patch: int
    prompt: int
    prompt_patch: int
    distance: float


def nearest_prompt_patch(query_feats, bank, query: int, patch: int, layer: int = -1) -> NearestPatch:
    """The nearest neighbour of one query patch among the bank's prompt patches.

    Searches the bank's normalised prompt tokens, exactly what Eq. 1 compares.

    Args:
        query_feats: the queries' :class:`~inctrl.backbone.ImageFeatures` (tokens
            [L, B, N, D]).
        bank: the :class:`~inctrl.containers.PromptBank` (tokens [L, K*N, D]).
        query: the query's index in ``query_feats``.
        patch: the query patch, row-major.
        layer: the tapped layer (index into L).

    Returns:
        The :class:`NearestPatch`.
    """
    q = F.normalize(query_feats.tokens[layer, query, patch].float(), dim=-1).cpu()   # [D]
    bank_tokens = bank.tokens[layer].float().cpu()                                    # [K*N, D]
    n_patches = query_feats.tokens.shape[2]
    sims = bank_tokens @ q
    best = int(sims.argmax())
    return NearestPatch(query, patch, best // n_patches, best % n_patches, 0.5 * (1 - float(sims[best])))


def argmax_in_corner(patch_maps, margin: int = 1):
    """Whether each map's largest cell (the patch that sets s_p) lies in a corner.

    In a corner means within ``margin`` patches of both a horizontal and a vertical border.

    Args:
        patch_maps: [B, h, w] patch maps (a tensor or an array).
        margin: the distance to the borders, in patches.

    Returns:
        [B] bool array.
    """
    import numpy as np

    maps = torch.as_tensor(patch_maps)
    h, w = maps.shape[-2:]
    best = maps.flatten(1).argmax(1).cpu().numpy()
    row, col = best // w, best % w
    return (np.minimum(row, h - 1 - row) <= margin) & (np.minimum(col, w - 1 - col) <= margin)
