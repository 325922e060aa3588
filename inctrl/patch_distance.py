"""Eq. 1 of InCTRL, the patch-level in-context residual (book/equations.md §2).

Every query patch token is compared with every patch token of the K normal prompts of the
same tapped layer; its residual is the distance to the nearest one. Scoring (one bank shared
by all queries), training (each query its own prompts) and the training pair table all call
:func:`nearest_prompt_distance`, so the equation has one implementation.
"""

from __future__ import annotations

import torch


def nearest_prompt_distance(query: torch.Tensor, prompts: torch.Tensor,
                            max_elements: int = 2**24, *, unit_query: bool = False) -> torch.Tensor:
    """Eq. 1: M^l(j) = min over prompt patches p of 0.5 * (1 - cos(T^l_x(j), p)), every layer.

    The one implementation of Eq. 1: scoring (one bank shared by all queries), training
    (each query its own prompts) and the training pair table (one prompt image at a time)
    all call it. No similarity block exceeds ``max_elements``: queries are taken in chunks
    and, when one query's block is already too large, the prompt patches too (a running
    max). All layers of a chunk go through one batched matrix product.

    Args:
        query: [L, B, N, D] query patch tokens, raw: the best dot product of each patch is
            divided by the patch's norm, which equals normalising first without making a
            normalised copy of all query tokens.
        prompts: [L, P, M, D] L2-normalised prompt patch tokens; P is 1 (one bank shared by
            all queries) or B (each query has its own prompts).
        max_elements: the largest similarity block computed at once.
        unit_query: the query tokens are already L2-normalised, so the division is skipped
            (the pair table normalises first: its values stay those it always had).

    Returns:
        [L, B, N] distances in [0, 1].
    """
    n_layers, batch, n_patches, _ = query.shape
    n_prompt = prompts.shape[2]
    shared = prompts.shape[1] == 1
    if not shared and prompts.shape[1] != batch:
        raise ValueError(f"prompts for {prompts.shape[1]} queries given to a batch of {batch}")
    per_query = n_layers * n_patches * n_prompt
    chunk = max(1, max_elements // per_query)
    prompt_chunk = n_prompt if chunk > 1 else max(1, max_elements // (n_layers * n_patches))
    out = []
    for start in range(0, batch, chunk):
        q = query[:, start:start + chunk]
        b = q.shape[1]
        best = None
        for p_start in range(0, n_prompt, prompt_chunk):
            if shared:  # one [L, b*N, D] x [L, D, M] product for the whole chunk
                p = prompts[:, 0, p_start:p_start + prompt_chunk]
                sims = torch.matmul(q.reshape(n_layers, b * n_patches, -1), p.transpose(1, 2))
                part = sims.amax(dim=-1).reshape(n_layers, b, n_patches)
            else:
                p = prompts[:, start:start + chunk, p_start:p_start + prompt_chunk]
                part = torch.matmul(q, p.transpose(-1, -2)).amax(dim=-1)
            best = part if best is None else torch.maximum(best, part)
        if unit_query:
            out.append(best.float())
        else:
            # max_m <q/|q|, p_m> = max_m <q, p_m> / |q|, with F.normalize's eps
            norms = torch.linalg.vector_norm(q.float(), dim=-1).clamp_min(1e-12)
            out.append(best.float() / norms)
    return 0.5 * (1.0 - torch.cat(out, dim=1))
