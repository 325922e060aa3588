"""The pair table: Eq. 1 of every (query, one normal prompt) pair, computed once for training.

:func:`inctrl.train.train` uses it when it fits in :data:`PAIR_TABLE_BYTES` (the backbone
is frozen, so these distances never change during training).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .patch_distance import nearest_prompt_distance

#: The largest pair table :func:`~inctrl.train.train` builds unless told to (2 GiB); a larger
#: one would take too much memory, so each step computes Eq. 1 from the tokens instead.
PAIR_TABLE_BYTES = 2 * 1024**3


class PairTable:
    """Eq. 1 of every (query, one normal prompt) pair, computed once for training.

    M^l(j) (Eq. 1) is a minimum over the patches of all K prompts, so it is the minimum over
    k of its value with prompt k alone. Prompts are always normal images of the query's
    category, so the table holds :func:`~inctrl.patch_distance.nearest_prompt_distance` with a single
    prompt for every (sample, normal sample of the same category) pair, [pairs, L, N], and a
    training step takes the minimum over the K rows of its episode. Computing the table once
    costs less than a few hundred training steps at K = 8. Its values equal
    ``model.forward_episodes`` from the tokens up to float rounding of the dot products
    (tested); the memory is pairs x L x N x 4 bytes (:meth:`size_bytes`).

    Attributes:
        offset: [S] int64, the first row of the block of sample i's category in ``distances``.
        qpos: [S] int64, sample i's position among the samples of its category.
        ppos: [S] int64, a normal sample's position among the normal samples of its
            category (0 for anomalous samples).
        width: [S] int64, the number of normal samples of sample i's category.
        distances: [pairs, L, N] float32 M^l with one prompt; the row of (query q, prompt
            p) is ``offset[q] + qpos[q] * width[q] + ppos[p]``.
    """

    def __init__(self, offset: torch.Tensor, qpos: torch.Tensor, ppos: torch.Tensor,
                 width: torch.Tensor, distances: torch.Tensor):
        self.offset, self.qpos, self.ppos, self.width = offset, qpos, ppos, width
        self.distances = distances

    @staticmethod
    def size_bytes(samples, tokens: torch.Tensor) -> int:
        """The bytes the table of ``samples`` takes.

        Args:
            samples: the training samples (their ``category`` and ``label``).
            tokens: [L, R, N, D] their patch tokens (only L and N matter).

        Returns:
            pairs x L x N x 4, pairs = sum over categories of samples x normal samples.
        """
        counts: dict[str, list[int]] = {}
        for s in samples:
            c = counts.setdefault(s.category, [0, 0])
            c[0] += 1
            c[1] += s.label == 0
        pairs = sum(n * m for n, m in counts.values())
        return pairs * tokens.shape[0] * tokens.shape[2] * 4

    @classmethod
    @torch.no_grad()
    def build(cls, samples, rows: torch.Tensor, tokens: torch.Tensor, progress: bool = False) -> PairTable:
        """Compute the table of ``samples``.

        Args:
            samples: the training samples (their ``category`` and ``label``).
            rows: [S] the row of each sample in ``tokens``.
            tokens: [L, R, N, D] raw patch tokens (e.g. of a feature cache).
            progress: show a progress bar over the categories.

        Returns:
            The PairTable.
        """
        n = len(samples)
        offset, qpos, ppos, width = (torch.zeros(n, dtype=torch.long) for _ in range(4))
        blocks, start = [], 0
        categories = sorted({s.category for s in samples})
        for cat in tqdm(categories, desc="pair table", disable=not progress, leave=False):
            members = [i for i, s in enumerate(samples) if s.category == cat]
            normals = [i for i in members if samples[i].label == 0]
            qpos[members] = torch.arange(len(members))
            ppos[normals] = torch.arange(len(normals))
            offset[members], width[members] = start, len(normals)
            q = F.normalize(tokens[:, rows[members]].float(), dim=-1)       # [L, Q, N, D]
            p = F.normalize(tokens[:, rows[normals]].float(), dim=-1)       # [L, P, N, D]
            block = q.new_empty(len(members), len(normals), q.shape[0], q.shape[2])  # [Q, P, L, N]
            for j in range(len(normals)):  # Eq. 1 with normal j as the only prompt
                block[:, j] = nearest_prompt_distance(q, p[:, j:j + 1], unit_query=True).transpose(0, 1)
            blocks.append(block.reshape(-1, *block.shape[2:]))
            start += len(members) * len(normals)
        return cls(offset, qpos, ppos, width, torch.cat(blocks))

    def layer_maps(self, query_index: torch.Tensor, prompt_index: torch.Tensor) -> torch.Tensor:
        """M^l (Eq. 1) of queries with their K prompts: the minimum over their K rows.

        Args:
            query_index: [B] sample indices of the queries.
            prompt_index: [B, K] sample indices of each query's prompts (normal samples of
                its category).

        Returns:
            [B, L, N] M^l.
        """
        idx = (self.offset[query_index] + self.qpos[query_index] * self.width[query_index])[:, None] \
            + self.ppos[prompt_index]
        return self.distances[idx.to(self.distances.device)].amin(dim=1)


def _use_pair_table(choice: bool | None, samples, tokens) -> bool:
    if choice is not None:
        return bool(choice)
    return PairTable.size_bytes(samples, tokens) <= PAIR_TABLE_BYTES
