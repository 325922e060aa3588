"""MNIST and CIFAR-10 as one-vs-all anomaly detection (one category per class)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..images import list_images
from ._common import Item, check_raw, staged_output, write_plan

__all__ = ["convert_cifar10", "convert_mnist", "convert_one_vs_all"]

_SPLIT_ALIASES = {"train": ("train", "training"), "test": ("test", "testing")}
#: The class folders each one-vs-all dataset may hold (None: any).
MNIST_CLASSES = tuple(str(d) for d in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _split_dir(raw: Path, split: str, dataset: str) -> Path:
    """The raw folder of ``split`` (``train``/``training`` or ``test``/``testing``)."""
    for name in _SPLIT_ALIASES[split]:
        if (raw / name).is_dir():
            return raw / name
    raise FileNotFoundError(
        f"raw {dataset} layout not recognised: expected {raw}/{split}/<class>/*.png "
        f"(also accepted: {'/'.join(_SPLIT_ALIASES[split])})"
    )


def _classes(folder: Path, dataset: str, allowed: tuple[str, ...] | None) -> dict[str, list[Path]]:
    """Class name -> its images, one class per visible subfolder (at least two, all ``allowed``)."""
    dirs = sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(dirs) < 2:
        raise ValueError(f"raw {dataset} layout not recognised: {folder} must hold one folder per class "
                         f"(found {len(dirs)})")
    unknown = [d.name for d in dirs if allowed is not None and d.name not in allowed]
    if unknown:
        raise ValueError(f"raw {dataset} layout not recognised: {folder} holds {unknown[:3]}, not "
                         f"{dataset} classes ({', '.join(allowed)}); is --raw a {dataset} download? "
                         "(see data/README.md)")
    return {d.name: list_images(d) for d in dirs}


def _sample(paths: list[Path], n: int | None, rng: np.random.Generator) -> list[Path]:
    """``n`` of ``paths`` drawn without replacement (sorted); all, in order, when n is None or >= len."""
    if n is None or n >= len(paths):
        return list(paths)
    idx = rng.choice(len(paths), size=n, replace=False)
    return sorted(paths[i] for i in idx)


def convert_one_vs_all(
    raw: str | os.PathLike,
    out: str | os.PathLike,
    *,
    dataset: str = "dataset",
    classes: list[str] | None = None,
    max_train_normals: int | None = 1000,
    anomalies_per_class: int | None = 100,
    seed: int = 42,
    overwrite: bool = False,
    show_progress: bool = True,
    allowed: tuple[str, ...] | None = None,
) -> Path:
    """Build one-vs-all categories from ``raw/{train,test}/<class>/*.png``.

    For every class ``c`` (or only those in ``classes``) a category named ``c`` holds:

    * ``train/good``: ``max_train_normals`` images of class ``c`` from the raw *train*
      split, drawn with ``numpy.random.default_rng([seed, class index])`` (None = all);
      these are only the pool that few-shot prompts are drawn from;
    * ``test/good``: every image of class ``c`` in the raw *test* split;
    * ``test/<other class>``: ``anomalies_per_class`` images drawn (same generator) from
      each other class's raw *test* images, so anomalies are balanced over the other
      classes and the defect folder tells which class an anomaly is.

    The paper does not publish its split; this choice is documented in data/README.md.
    Files are copied byte for byte.

    Args:
        raw: the folder holding ``train/`` (or ``training/``) and ``test/`` (or ``testing/``),
            each with one folder of PNGs per class.
        out: the output root, created (or, with ``overwrite``, replaced) as a whole at the end.
        dataset: the dataset's display name, used in messages and progress bars.
        classes: the classes to build categories for; None for all.
        max_train_normals: normal training images per category; None for all.
        anomalies_per_class: test anomalies drawn from each other class; None for all.
        seed: the first entry of every class's random generator seed.
        overwrite: replace a non-empty ``out``.
        show_progress: show a progress bar.
        allowed: the class folder names the dataset may hold (None: any); another name
            means ``raw`` is some other dataset.

    Returns:
        ``out`` as a Path.

    Raises:
        FileNotFoundError: ``raw`` or its train or test folder is missing.
        ValueError: train and test classes differ, a class is unknown, not ``allowed`` or
            named ``good``, a split has fewer than two classes, or ``out`` and ``raw`` overlap.
        FileExistsError: ``out`` is not empty and ``overwrite`` is False.
    """
    raw = check_raw(raw, dataset)
    train = _classes(_split_dir(raw, "train", dataset), dataset, allowed)
    test = _classes(_split_dir(raw, "test", dataset), dataset, allowed)
    if sorted(train) != sorted(test):
        raise ValueError(f"{dataset}: train classes {sorted(train)} and test classes {sorted(test)} differ")
    names = sorted(train)
    wanted = names if classes is None else [str(c) for c in classes]
    unknown = sorted(set(wanted) - set(names))
    if unknown:
        raise ValueError(f"{dataset}: unknown classes {unknown}; available: {names}")
    if "good" in names:
        raise ValueError(f"{dataset}: a class named 'good' clashes with the normal folder name")
    with staged_output(out, raw, overwrite) as tmp:
        for normal in wanted:
            rng = np.random.default_rng([seed, names.index(normal)])
            plan = [
                ("train", Item(p.stem, "good", p)) for p in _sample(train[normal], max_train_normals, rng)
            ]
            plan += [("test", Item(p.stem, "good", p)) for p in test[normal]]
            for other in names:
                if other != normal:
                    picked = _sample(test[other], anomalies_per_class, rng)
                    plan += [("test", Item(p.stem, other, p)) for p in picked]
            write_plan(tmp / normal, plan, f"{dataset}/{normal}", show_progress)
    return Path(out)


def convert_mnist(raw, out, **kwargs) -> Path:
    """MNIST one-vs-all (see :func:`convert_one_vs_all`); categories ``0`` ... ``9``.

    Args:
        raw: the raw folder (``train/<digit>/*.png``, ``test/<digit>/*.png``).
        out: the output root.
        **kwargs: further options of :func:`convert_one_vs_all`.

    Returns:
        ``out`` as a Path.
    """
    return convert_one_vs_all(raw, out, dataset="MNIST", allowed=MNIST_CLASSES, **kwargs)


def convert_cifar10(raw, out, **kwargs) -> Path:
    """CIFAR-10 one-vs-all (see :func:`convert_one_vs_all`); categories are class names.

    Args:
        raw: the raw folder (``train/<class>/*.png``, ``test/<class>/*.png``).
        out: the output root.
        **kwargs: further options of :func:`convert_one_vs_all`.

    Returns:
        ``out`` as a Path.
    """
    return convert_one_vs_all(raw, out, dataset="CIFAR-10", allowed=CIFAR10_CLASSES, **kwargs)
