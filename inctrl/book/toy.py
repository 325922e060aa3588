"""Chapter 1's two-dimensional toy: absolute versus in-context anomaly scores.

Each "dataset" (context) has normal samples that are unit vectors clustered around one
direction and anomalies at least 45 degrees away from it. An *absolute* detector learned on
context A measures the distance to A's mean normal direction; the *in-context residual*
measures the distance to the nearest of K normal prompts of the sample's own context, with
the package's Eq. 1 (each 2-D point plays the role of one patch token).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..patch_distance import nearest_prompt_distance

__all__ = ["ToyContext", "absolute_score", "make_context", "residual_score", "unit"]


def unit(degrees) -> np.ndarray:
    """Unit vectors at the given angles.

    Args:
        degrees: angles in degrees, any shape [...].

    Returns:
        [..., 2] unit vectors (cos, sin).
    """
    rad = np.deg2rad(np.asarray(degrees, dtype=float))
    return np.stack([np.cos(rad), np.sin(rad)], axis=-1)


@dataclass
class ToyContext:
    """One toy context: its samples and K normal prompts.

    Attributes:
        x: [2n, 2] unit-vector samples, normals first.
        y: [2n] int labels, 0 normal, 1 anomalous.
        prompts: [K, 2] unit-vector normal prompts.
    """

    x: np.ndarray
    y: np.ndarray
    prompts: np.ndarray

    @property
    def normal_direction(self) -> np.ndarray:
        """The unit mean direction of the normal samples."""
        mean = self.x[self.y == 0].mean(0)
        return mean / np.linalg.norm(mean)


def make_context(centre: float, n: int, shots: int, rng: np.random.Generator,
                 spread: float = 12.0) -> ToyContext:
    """A toy context: normal samples and prompts around one direction, anomalies away from it.

    Args:
        centre: the normal direction, in degrees.
        n: normal samples, and as many anomalies 45 to 315 degrees away from ``centre``.
        shots: K, normal prompts drawn like the normal samples.
        rng: the generator.
        spread: the standard deviation of the normal angles, in degrees.

    Returns:
        The :class:`ToyContext`.
    """
    normal = centre + rng.normal(0, spread, n)
    anomalous = centre + rng.uniform(45, 315, n)
    prompts = centre + rng.normal(0, spread, shots)
    x = unit(np.concatenate([normal, anomalous]))
    y = np.r_[np.zeros(n), np.ones(n)].astype(int)
    return ToyContext(x, y, unit(prompts))


def absolute_score(x: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """A detector with one fixed notion of normal: ``0.5 * (1 - cos)`` to ``direction``.

    Args:
        x: [B, 2] unit-vector samples.
        direction: [2] the unit normal direction (e.g. :attr:`ToyContext.normal_direction`).

    Returns:
        [B] scores in [0, 1].
    """
    return 0.5 * (1 - x @ direction)


def residual_score(x: np.ndarray, prompts: np.ndarray) -> np.ndarray:
    """The in-context residual: Eq. 1 with one "patch" per sample.

    That is ``0.5 * (1 - cos)`` to the nearest prompt, computed by
    :func:`inctrl.patch_distance.nearest_prompt_distance`.

    Args:
        x: [B, 2] unit-vector samples.
        prompts: [K, 2] unit-vector normal prompts.

    Returns:
        [B] float32 scores in [0, 1].
    """
    q = torch.tensor(x, dtype=torch.float32)[None, :, None, :]        # [L=1, B, N=1, D=2]
    p = torch.tensor(prompts, dtype=torch.float32)[None, None]        # [L=1, 1, K, D=2]
    return nearest_prompt_distance(q, p)[0, :, 0].numpy()
