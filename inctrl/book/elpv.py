"""ELPV for the chapters: the prepared dataset, seeded prompt draws and seeded query subsets.

ELPV {Deitsch et al. 2019} holds electroluminescence images of single solar cells of two
*cell types*: monocrystalline (``mono``, cut from a round ingot, so the wafer has chamfered
corners that show as dark triangles) and polycrystalline (``poly``, square, with a grainy
texture). The canonical layout files the defective cells under ``test/mono`` and
``test/poly``, so in this layout "mono" and "poly" name the cell type of a defective cell,
not a kind of defect; normal cells of both types sit together in ``train/good`` and
``test/good``.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

__all__ = ["CELL_TYPES", "ELPV", "cell_type", "elpv_dataset", "elpv_prompts", "elpv_queries"]

#: The ELPV category in the canonical layout (the text prior reads it as "solar cell").
ELPV = "elpv"

#: ELPV's defect folders are its cell types: what each name means.
CELL_TYPES = {"mono": "monocrystalline cell (chamfered corners)",
              "poly": "polycrystalline cell (grainy texture)"}


@functools.lru_cache(maxsize=1)
def _cell_types() -> dict[str, str]:
    from ..data.converters.elpv import elpv_package_dir, read_elpv_labels

    labels = read_elpv_labels(elpv_package_dir() / "labels.csv")
    return {Path(rel).stem: kind for rel, _, kind in labels}


def cell_type(path) -> str:
    """The cell type of an ELPV image (normal or defective).

    Read from the ``labels.csv`` of the ``elpv-dataset`` package by file name.

    Args:
        path: an ELPV image path (only its file name counts).

    Returns:
        ``"mono"`` or ``"poly"`` (see :data:`CELL_TYPES`).

    Raises:
        KeyError: the file name is not an ELPV image.
    """
    return _cell_types()[Path(path).stem]


def elpv_dataset(data_dir: str | os.PathLike = "../data", *, show_progress: bool = False):
    """The canonical ELPV dataset under ``data_dir/elpv``.

    Prepared from the ``elpv-dataset`` package the first time (about 80 MB, no download).

    Args:
        data_dir: the data folder.
        show_progress: show a progress bar while preparing.

    Returns:
        The :class:`~inctrl.data.layout.CanonicalDataset`, named ``"elpv"``.

    Raises:
        FileNotFoundError: ``data_dir/elpv`` exists, is not empty and holds no prepared ELPV.
    """
    from ..data.converters import prepare_elpv
    from ..data.layout import CanonicalDataset

    root = Path(data_dir) / ELPV
    if not (root / ELPV / "train" / "good").is_dir():
        if root.exists() and any(root.iterdir()):
            raise FileNotFoundError(
                f"{root.name} exists under data_dir but holds no prepared ELPV "
                f"({ELPV}/train/good is missing); remove it or point data_dir elsewhere")
        print("preparing ELPV (once) ...")
        prepare_elpv(root, show_progress=show_progress)
    return CanonicalDataset(root, name=ELPV)


def elpv_prompts(dataset, k: int, seed: int = 0) -> list[Path]:
    """K normal prompt images drawn reproducibly from ELPV's train/good split.

    A :class:`inctrl.data.fewshot.PromptSet` draw: draws are nested across K for one seed.

    Args:
        dataset: the ELPV dataset (:func:`elpv_dataset`).
        k: K.
        seed: the seed of the draw.

    Returns:
        The K image paths.
    """
    from ..data.fewshot import PromptSet

    return PromptSet.draw(dataset, ELPV, k, seed).resolve(dataset.root)


def elpv_queries(dataset, n_normal: int, n_anomalous: int, seed: int = 0):
    """A seeded subset of ELPV's test split, normals first.

    Args:
        dataset: the ELPV dataset (:func:`elpv_dataset`).
        n_normal: normal cells to pick, capped by what the split holds.
        n_anomalous: defective cells to pick, capped likewise.
        seed: the seed of the pick.

    Returns:
        ``(paths, labels, cell types)``: the paths, an int array of 0/1 labels, and
        ``"good"`` for a normal cell or the cell type (``"mono"`` or ``"poly"``, see
        :data:`CELL_TYPES`) for a defective one.

    Raises:
        ValueError: a negative count.
    """
    rng = np.random.default_rng(seed)
    test = dataset.test_samples(ELPV)
    chosen = []
    for label, n in ((0, n_normal), (1, n_anomalous)):
        if n < 0:
            raise ValueError(f"query counts must be >= 0, got {n}")
        pool = [s for s in test if s.label == label]
        pick = rng.permutation(len(pool))[:min(n, len(pool))]
        chosen += [pool[i] for i in sorted(pick)]
    return ([s.path for s in chosen], np.array([s.label for s in chosen], dtype=int),
            [s.defect for s in chosen])
