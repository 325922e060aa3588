"""Readers for the canonical (MVTec AD) folder layout and for a user's own folders.

Canonical layout (see ``data/README.md``)::

    ROOT/<category>/train/good/*.png
    ROOT/<category>/test/good/*.png
    ROOT/<category>/test/<defect_type>/*.png
    ROOT/<category>/ground_truth/<defect_type>/<stem>_mask.png   (when masks exist)

Both readers expose the same small interface (``root``, ``name``, ``categories``,
``samples()``, ``train_normals()``, ``test_samples()``, ``object_name()``), which is all
that prompt drawing, training and evaluation need.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from .images import IMAGE_SUFFIXES, SkippedImageWarning, list_images
from .splits import NORMAL_TEST_SIZE, SPLIT_RANDOM_STATE, split_normals

__all__ = ["NORMAL_DEFECT", "SPLITS", "Sample", "CanonicalDataset", "FolderDataset"]

#: Folder name of normal images in the canonical layout.
NORMAL_DEFECT = "good"
#: The two splits, in the order samples are listed.
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Sample:
    """One image of a dataset.

    Attributes:
        path: the image file.
        label: 0 for normal, 1 for anomalous.
        category: category (object) name, e.g. ``"bottle"`` or ``"elpv"``.
        defect: ``"good"`` for normal images, otherwise the defect type (folder name).
        split: ``"train"`` or ``"test"``.
        mask: ground-truth mask file, or None (always None for normal images).
    """

    path: Path
    label: int
    category: str
    defect: str
    split: str
    mask: Path | None = None

    @property
    def is_anomalous(self) -> bool:
        """True for an anomalous image (``label == 1``)."""
        return self.label == 1


def _find_mask(gt_dir: Path, stem: str) -> Path | None:
    """``<stem>_mask.png`` (MVTec AD) or ``<stem>.png`` / any image suffix."""
    for name in (f"{stem}_mask", stem):
        for suffix in (".png", *sorted(IMAGE_SUFFIXES - {".png"})):
            candidate = gt_dir / f"{name}{suffix}"
            if candidate.is_file():
                return candidate
    return None


def _check_split(split: str | None) -> None:
    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS} or None, got {split!r}")


class _DatasetBase:
    """Shared query methods; subclasses fill ``self._samples`` (category -> samples)."""

    root: Path
    name: str
    _samples: dict[str, list[Sample]]

    @property
    def categories(self) -> list[str]:
        """Category names, sorted."""
        return sorted(self._samples)

    def _category_samples(self, category: str) -> list[Sample]:
        if category not in self._samples:
            raise ValueError(
                f"dataset {self.name!r} ({self.root}) has no category {category!r}; "
                f"available: {', '.join(self.categories)}"
            )
        return self._samples[category]

    def samples(self, category: str | None = None, split: str | None = None) -> list[Sample]:
        """All samples, optionally restricted to one category and/or split.

        Order: category, then train before test, then defect type (``good`` first), then
        path; stable across runs and machines.

        Args:
            category: one category, or None for all.
            split: ``"train"``, ``"test"`` or None for both.

        Returns:
            The samples.

        Raises:
            ValueError: an unknown category or split.
        """
        _check_split(split)
        cats = self.categories if category is None else [category]
        out: list[Sample] = []
        for cat in cats:
            out.extend(s for s in self._category_samples(cat) if split in (None, s.split))
        return out

    def train_normals(self, category: str) -> list[Sample]:
        """The normal images of ``train/good``: the pool few-shot prompts are drawn from.

        Args:
            category: the category.

        Returns:
            Its train normal samples, sorted by path.

        Raises:
            ValueError: an unknown category.
        """
        return [s for s in self.samples(category, "train") if s.label == 0]

    def test_samples(self, category: str) -> list[Sample]:
        """Every test image (normal and anomalous) of ``category``.

        Args:
            category: the category.

        Returns:
            Its test samples, normal ones first.

        Raises:
            ValueError: an unknown category.
        """
        return self.samples(category, "test")

    def object_name(self, category: str) -> str:
        """The object name used by the text prior: ``"metal_nut"`` -> ``"metal nut"``.

        Args:
            category: the category.

        Returns:
            The name with underscores as spaces.

        Raises:
            ValueError: an unknown category.
        """
        self._category_samples(category)
        return category.replace("_", " ")

    def counts(self) -> dict[str, dict[str, int]]:
        """Per category: numbers of train normals, test normals and test anomalies.

        Returns:
            ``{category: {"train_good": n, "test_good": n, "test_anomalous": n}}``.
        """
        table = {}
        for cat in self.categories:
            samples = self._samples[cat]
            table[cat] = {
                "train_good": sum(s.split == "train" and s.label == 0 for s in samples),
                "test_good": sum(s.split == "test" and s.label == 0 for s in samples),
                "test_anomalous": sum(s.split == "test" and s.label == 1 for s in samples),
            }
        return table

    def __len__(self) -> int:
        return sum(len(v) for v in self._samples.values())

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, root={str(self.root)!r}, "
            f"categories={len(self._samples)}, samples={len(self)})"
        )


class CanonicalDataset(_DatasetBase):
    """A dataset in the canonical MVTec AD layout.

    Args:
        root: folder holding one sub-folder per category.
        name: dataset name (defaults to the folder name), used in prompt-set files.

    Every non-hidden sub-folder of ``root`` is a category and must hold ``train/good``
    with at least one image. The folders are scanned once, at construction.

    Raises:
        FileNotFoundError: ``root`` does not exist.
        NotADirectoryError: ``root`` is a file.
        ValueError: ``root`` has no category folder, a category lacks ``train/good`` or its
            ``train/good`` holds no image, or ``root`` is itself a category folder.
    """

    def __init__(self, root: str | os.PathLike, name: str | None = None):
        self.root = Path(root)
        self.name = name if name is not None else Path(os.path.realpath(self.root)).name
        if not self.root.exists():
            raise FileNotFoundError(
                f"dataset root {self.root} does not exist; prepare it first "
                f"(python -m inctrl prepare ..., see data/README.md)"
            )
        if not self.root.is_dir():
            raise NotADirectoryError(f"dataset root {self.root} is a file, expected a folder")
        if (self.root / "train").is_dir() and (self.root / "test").is_dir():
            raise ValueError(
                f"{self.root} looks like a single category folder (it holds train/ and "
                f"test/); pass its parent folder {self.root.parent} as the dataset root"
            )
        category_dirs = sorted(p for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))
        if not category_dirs:
            raise ValueError(
                f"dataset root {self.root} holds no category folder; expected "
                f"{self.root}/<category>/train/good/*.png"
            )
        self._samples = {d.name: self._scan_category(d) for d in category_dirs}

    def _scan_category(self, cat_dir: Path) -> list[Sample]:
        category = cat_dir.name
        train_good = cat_dir / "train" / NORMAL_DEFECT
        if not train_good.is_dir():
            raise ValueError(
                f"category {category!r} of {self.root} has no train/good folder "
                f"(expected {train_good}); is this a canonical (MVTec AD layout) dataset?"
            )
        samples: list[Sample] = []
        skipped: list[tuple[Path, str]] = []  # dangling symlinks & co. named like images
        for split in SPLITS:
            split_dir = cat_dir / split
            if not split_dir.is_dir():
                continue
            defects = sorted(
                (p.name for p in split_dir.iterdir() if p.is_dir() and not p.name.startswith(".")),
                key=lambda d: (d != NORMAL_DEFECT, d),
            )
            for defect in defects:
                try:
                    files = list_images(split_dir / defect, skipped=skipped)
                except ValueError:  # an empty defect folder adds no sample
                    files = []
                label = 0 if defect == NORMAL_DEFECT else 1
                gt_dir = cat_dir / "ground_truth" / defect
                for path in files:
                    mask = _find_mask(gt_dir, path.stem) if label == 1 else None
                    samples.append(Sample(path, label, category, defect, split, mask))
        if skipped:
            listed = ", ".join(f"{p.relative_to(cat_dir)} ({why})" for p, why in skipped[:5])
            warnings.warn(SkippedImageWarning(
                f"category {category!r} of {self.root}: skipped {len(skipped)} entries that are no readable "
                f"image files: {listed}" + (" ..." if len(skipped) > 5 else "")), stacklevel=3)
        if not any(s.split == "train" and s.label == 0 for s in samples):
            raise ValueError(f"category {category!r}: {train_good} holds no image")
        return samples


class FolderDataset(_DatasetBase):
    """A single-category dataset built from a user's own folders.

    Args:
        normal_dir: folder of normal images (searched non-recursively).
        anomalous_dir: optional folder of anomalous images; all go to test.
        mask_dir: optional folder of masks for the anomalous images, matched by file stem
            (``<stem>_mask.png`` or ``<stem>.png``).
        name: category (and dataset) name; also the object name of the text prior.
        test_size: fraction of the normal images put in test, with the protocol's
            ``train_test_split(..., random_state=42)`` on the sorted paths. ``0`` keeps all
            normal images in train (e.g. when they only serve as prompts).
        defect: defect-type name given to the anomalous images.

    Raises:
        FileNotFoundError: a folder is missing.
        NotADirectoryError: an image folder is a file.
        ValueError: a folder holds no image, the split leaves train empty, ``test_size`` is
            outside [0, 1), ``defect`` is ``"good"``, or ``mask_dir`` is given without
            ``anomalous_dir``.
    """

    def __init__(
        self,
        normal_dir: str | os.PathLike,
        anomalous_dir: str | os.PathLike | None = None,
        mask_dir: str | os.PathLike | None = None,
        name: str = "custom",
        test_size: float = NORMAL_TEST_SIZE,
        defect: str = "anomaly",
    ):
        if not 0 <= test_size < 1:
            raise ValueError(f"test_size must be in [0, 1), got {test_size}")
        if defect == NORMAL_DEFECT:
            raise ValueError(f"defect name {NORMAL_DEFECT!r} is reserved for normal images")
        self.name = name
        dirs = [Path(normal_dir)] + [Path(d) for d in (anomalous_dir, mask_dir) if d is not None]
        self.root = Path(os.path.commonpath([os.path.realpath(d) for d in dirs]))  # realpath: no loop error
        normals = list_images(normal_dir)
        train, test = split_normals(normals, test_size, SPLIT_RANDOM_STATE)
        samples = [Sample(p, 0, name, NORMAL_DEFECT, "train") for p in train]
        samples += [Sample(p, 0, name, NORMAL_DEFECT, "test") for p in test]
        if anomalous_dir is not None:
            if mask_dir is not None and not Path(mask_dir).is_dir():
                raise FileNotFoundError(f"mask folder {mask_dir} does not exist")
            for path in list_images(anomalous_dir):
                mask = _find_mask(Path(mask_dir), path.stem) if mask_dir is not None else None
                samples.append(Sample(path, 1, name, defect, "test", mask))
        elif mask_dir is not None:
            raise ValueError("mask_dir was given without anomalous_dir")
        self._samples = {name: samples}
