"""Training batches of the paper (book/equations.md §6): queries plus per-query random prompts.

A batch has ``n_normal`` normal and ``n_anomalous`` anomalous queries drawn from all
categories of the auxiliary set, and for every query K normal prompts drawn afresh from
the normal images of the **same category**. Everything is returned as integer indices into
the ``samples`` sequence the sampler was built with, so the training loop can gather
cached features (``features[query_index]``, ``features[prompt_index]``) without reloading
images.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .layout import Sample

__all__ = ["TrainingBatch", "TrainingSampler"]


@dataclass(frozen=True)
class TrainingBatch:
    """One training batch, as indices into the sampler's ``samples``.

    Attributes:
        query_index: LongTensor [B], B = n_normal + n_anomalous.
        labels: FloatTensor [B]; the first n_normal are 0, the rest 1.
        prompt_index: LongTensor [B, K]; row b holds K distinct normal samples of the
            category of query b.
        categories: category of each query (length B).
    """

    query_index: torch.Tensor
    labels: torch.Tensor
    prompt_index: torch.Tensor
    categories: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.query_index.shape[0])


class TrainingSampler:
    """Draws :class:`TrainingBatch` es from the samples of an auxiliary dataset.

    Queries are drawn uniformly over all normal (resp. anomalous) samples of all
    categories, without replacement within a batch when there are enough of them.

    Args:
        samples: every training sample (normal: label 0, anomalous: label 1), usually
            ``CanonicalDataset(...).samples()`` (all splits: the auxiliary set is used whole).
        shots: K, prompts per query.
        n_normal: normal queries per batch (paper: 8).
        n_anomalous: anomalous queries per batch (paper: 8).
        exclude_query: never use a normal query as one of its own prompts (the official
            code does not exclude it).
        seed: seed of the ``numpy.random.Generator``; the sequence of batches is a pure
            function of (samples, arguments, seed).

    Raises:
        ValueError: ``shots < 1``; negative query counts or both 0; a label other than 0
            or 1; no normal or no anomalous samples; a category with queries but fewer than
            K normal images (K + 1 with ``exclude_query``).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        shots: int,
        n_normal: int = 8,
        n_anomalous: int = 8,
        exclude_query: bool = False,
        seed: int = 0,
    ):
        if int(shots) < 1:
            raise ValueError(f"shots (K) must be at least 1, got {shots}")
        if n_normal < 0 or n_anomalous < 0 or n_normal + n_anomalous == 0:
            raise ValueError(
                f"n_normal and n_anomalous must be >= 0 and not both 0, got {n_normal} and {n_anomalous}"
            )
        self.samples = list(samples)
        self.shots = int(shots)
        self.n_normal = int(n_normal)
        self.n_anomalous = int(n_anomalous)
        self.exclude_query = bool(exclude_query)
        self.seed = seed
        self._rng = np.random.default_rng(seed)

        labels = np.array([int(s.label) for s in self.samples], dtype=np.int64)
        if not np.isin(labels, (0, 1)).all():
            raise ValueError("sample labels must be 0 (normal) or 1 (anomalous)")
        self._normal = np.flatnonzero(labels == 0)
        self._anomalous = np.flatnonzero(labels == 1)
        if self.n_normal and self._normal.size == 0:
            raise ValueError("no normal samples to draw normal queries from")
        if self.n_anomalous and self._anomalous.size == 0:
            raise ValueError(
                "no anomalous samples: training needs anomalous queries (label 1), e.g. the "
                "test defects of the auxiliary dataset"
            )
        self._pool: dict[str, np.ndarray] = {}
        for cat in sorted({s.category for s in self.samples}):
            self._pool[cat] = np.array(
                [i for i in self._normal if self.samples[i].category == cat], dtype=np.int64
            )
        need = self.shots + (1 if self.exclude_query else 0)
        short = {cat: len(p) for cat, p in self._pool.items() if len(p) < need}
        if short:
            detail = ", ".join(f"{c!r} has {n}" for c, n in sorted(short.items()))
            why = f"K={self.shots}" + (" plus the excluded query" if self.exclude_query else "")
            raise ValueError(
                f"every category needs at least {need} normal samples to draw prompts ({why}): {detail}"
            )
        self._categories = [s.category for s in self.samples]

    def _queries(self, pool: np.ndarray, n: int) -> np.ndarray:
        if n == 0:
            return np.empty(0, dtype=np.int64)
        return self._rng.choice(pool, size=n, replace=n > pool.size)

    @property
    def state(self) -> dict:
        """The random generator's state (JSON-serialisable), to resume training exactly."""
        return self._rng.bit_generator.state

    @state.setter
    def state(self, value: dict) -> None:
        self._rng.bit_generator.state = value

    def batch(self) -> TrainingBatch:
        """Draw the next batch (queries and fresh prompts).

        Returns:
            The :class:`TrainingBatch`: ``n_normal`` normal then ``n_anomalous`` anomalous
            queries, K prompts each.
        """
        queries = np.concatenate(
            [
                self._queries(self._normal, self.n_normal),
                self._queries(self._anomalous, self.n_anomalous),
            ]
        )
        prompts = np.empty((queries.size, self.shots), dtype=np.int64)
        for b, q in enumerate(queries):
            pool = self._pool[self._categories[q]]
            if self.exclude_query:
                pool = pool[pool != q]
            prompts[b] = self._rng.choice(pool, size=self.shots, replace=False)
        labels = np.concatenate([np.zeros(self.n_normal), np.ones(self.n_anomalous)])
        return TrainingBatch(
            query_index=torch.from_numpy(queries.astype(np.int64)),
            labels=torch.from_numpy(labels.astype(np.float32)),
            prompt_index=torch.from_numpy(prompts),
            categories=tuple(self._categories[q] for q in queries),
        )

    def batches(self, n: int) -> Iterator[TrainingBatch]:
        """``n`` consecutive batches (e.g. 100 steps per epoch).

        Args:
            n: the number of batches.

        Yields:
            One :class:`TrainingBatch` per step, as :meth:`batch`.
        """
        for _ in range(n):
            yield self.batch()

    def __repr__(self) -> str:
        return (
            f"TrainingSampler(samples={len(self.samples)}, categories={len(self._pool)}, "
            f"shots={self.shots}, n_normal={self.n_normal}, n_anomalous={self.n_anomalous}, "
            f"exclude_query={self.exclude_query}, seed={self.seed})"
        )
