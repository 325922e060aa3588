"""Chapter 2's patch lookups: the nearest prompt patch of a query patch (Eq. 1) and where a
map's largest residual sits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["NearestPatch", "argmax_in_corner", "nearest_prompt_patch"]


@dataclass
class NearestPatch:
    """The nearest prompt patch of query patch ``patch`` of query ``query`` at one tapped
    layer: prompt image ``prompt`` (index into the bank's prompts), its patch
    ``prompt_patch`` (row-major on the grid) and the distance 0.5 * (1 - cos) of Eq. 1."""

    query: int
    patch: int
    prompt: int
    prompt_patch: int
    distance: float


def nearest_prompt_patch(query_feats, bank, query: int, patch: int, layer: int = -1) -> NearestPatch:
    """Search the bank's normalised prompt tokens (exactly what Eq. 1 compares) for the
    nearest neighbour of one query patch at tapped layer ``layer``."""
    q = F.normalize(query_feats.tokens[layer, query, patch].float(), dim=-1).cpu()   # [D]
    bank_tokens = bank.tokens[layer].float().cpu()                                    # [K*N, D]
    n_patches = query_feats.tokens.shape[2]
    sims = bank_tokens @ q
    best = int(sims.argmax())
    return NearestPatch(query, patch, best // n_patches, best % n_patches, 0.5 * (1 - float(sims[best])))


def argmax_in_corner(patch_maps, margin: int = 1):
    """For each map of ``patch_maps`` [B, h, w]: whether its largest cell (the patch that sets
    s_p) lies within ``margin`` patches of both a horizontal and a vertical border, i.e. in
    one of the four corners. Returns a bool array [B]."""
    import numpy as np

    maps = torch.as_tensor(patch_maps)
    h, w = maps.shape[-2:]
    best = maps.flatten(1).argmax(1).cpu().numpy()
    row, col = best // w, best % w
    return (np.minimum(row, h - 1 - row) <= margin) & (np.minimum(col, w - 1 - col) <= margin)
