"""Few-shot prompt sets: K normal images per category, drawn reproducibly and saved.

The official release shipped pre-processed prompt tensors without file names; a
:class:`PromptSet` records which files were drawn (paths relative to the dataset root),
so a result can be reproduced and shared as a small JSON file.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["PROMPT_SET_FORMAT", "PromptSet", "draw_many"]

#: Value of the ``format`` field of a saved prompt set.
PROMPT_SET_FORMAT = "inctrl-prompt-set/1"


@dataclass(frozen=True)
class PromptSet:
    """K normal prompt images of one category.

    Attributes:
        dataset: dataset name (e.g. ``"mvtec"``, ``"elpv"``).
        category: category name.
        k: number of prompts.
        seed: seed of the draw.
        paths: POSIX paths of the images, relative to the dataset root, in draw order.
    """

    dataset: str
    category: str
    k: int
    seed: int
    paths: tuple[str, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", tuple(str(p) for p in self.paths))
        if len(self.paths) != self.k:
            raise ValueError(f"prompt set says k={self.k} but lists {len(self.paths)} paths")
        if len(set(self.paths)) != len(self.paths):
            raise ValueError("prompt set lists the same image twice")

    @classmethod
    def draw(cls, dataset, category: str, k: int, seed: int) -> PromptSet:
        """Draw ``k`` distinct images of ``category``'s train/good split.

        The pool is sorted by path and a ``numpy.random.default_rng(seed)`` permutation
        picks the first ``k``, so for one seed the draws are nested: the K=2 set is the
        start of the K=4 set, which is the start of the K=8 set.

        Args:
            dataset: a :class:`~inctrl.data.layout.CanonicalDataset` (or anything with
                ``root``, ``name`` and ``train_normals``).
            category: the category to draw from.
            k: the number of prompts.
            seed: the seed of the draw.

        Returns:
            The PromptSet, paths relative to ``dataset.root``.

        Raises:
            ValueError: ``k < 1``, or ``k`` exceeds the number of train/good images.
        """
        k = int(k)
        if k < 1:
            raise ValueError(f"k (number of prompts) must be at least 1, got {k}")
        pool = sorted(s.path for s in dataset.train_normals(category))
        if k > len(pool):
            raise ValueError(
                f"cannot draw k={k} prompts for category {category!r}: its train/good split "
                f"holds only {len(pool)} images"
            )
        order = np.random.default_rng(seed).permutation(len(pool))[:k]
        root = Path(dataset.root)
        paths = tuple(_relative(pool[i], root) for i in order)
        return cls(dataset.name, category, k, int(seed), paths)

    def resolve(self, root: str | os.PathLike) -> list[Path]:
        """The image paths under ``root``, in draw order.

        Args:
            root: the dataset root the set was drawn from (or a copy of it).

        Returns:
            ``root / path`` for every path of the set.

        Raises:
            FileNotFoundError: an image is missing (the message names it and the set).
        """
        root = Path(root)
        out = []
        for rel in self.paths:
            path = root / rel
            if not path.is_file():
                raise FileNotFoundError(
                    f"prompt image {rel} of prompt set {self.dataset}/{self.category} "
                    f"(k={self.k}, seed={self.seed}) not found under {root}"
                )
            out.append(path)
        return out

    def to_dict(self) -> dict:
        """The set as a JSON-ready dict, with its ``format`` (:data:`PROMPT_SET_FORMAT`)."""
        return {
            "format": PROMPT_SET_FORMAT,
            "dataset": self.dataset,
            "category": self.category,
            "k": self.k,
            "seed": self.seed,
            "paths": list(self.paths),
        }

    @classmethod
    def from_dict(cls, data: dict) -> PromptSet:
        """The set a :meth:`to_dict` dict describes.

        Args:
            data: the dict; a missing ``format`` is taken to be the current one.

        Returns:
            The PromptSet.

        Raises:
            ValueError: a field is missing, the format is unknown, or ``k`` does not match
                the paths or a path is listed twice.
        """
        missing = {"dataset", "category", "k", "seed", "paths"} - set(data)
        if missing:
            raise ValueError(f"prompt set is missing fields {sorted(missing)}")
        fmt = data.get("format", PROMPT_SET_FORMAT)
        if fmt != PROMPT_SET_FORMAT:
            raise ValueError(f"unknown prompt set format {fmt!r}, expected {PROMPT_SET_FORMAT}")
        return cls(data["dataset"], data["category"], int(data["k"]), int(data["seed"]), tuple(data["paths"]))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the set as JSON, atomically.

        As every write of :mod:`inctrl.atomic`: the user's umask, a symlink is written
        through, a folder or FIFO is refused.

        Args:
            path: the JSON file.

        Returns:
            ``path`` as a :class:`~pathlib.Path`.
        """
        from ..atomic import write_json

        return write_json(Path(path), self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> PromptSet:
        """Read a set written by :meth:`save`.

        Args:
            path: the JSON file.

        Returns:
            The PromptSet.

        Raises:
            FileNotFoundError: the file does not exist.
            ValueError: not valid JSON, not an object, or not a valid prompt set (the
                message names the file).
        """
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"prompt set file {path} does not exist") from None
        except json.JSONDecodeError as err:
            raise ValueError(f"prompt set file {path} is not valid JSON ({err})") from err
        if not isinstance(data, dict):
            raise ValueError(f"prompt set file {path} must hold a JSON object")
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as err:
            raise ValueError(f"prompt set file {path}: {err}") from err


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return Path(os.path.relpath(path.resolve(), root.resolve())).as_posix()


def draw_many(dataset, category: str, k: int, seeds: Sequence[int] = (0, 1, 2)) -> list[PromptSet]:
    """One :meth:`PromptSet.draw` per seed (results are reported as mean ± std over them).

    Args:
        dataset: as :meth:`PromptSet.draw`.
        category: the category to draw from.
        k: the number of prompts.
        seeds: one draw each.

    Returns:
        The prompt sets, in the order of ``seeds``.

    Raises:
        ValueError: ``seeds`` is empty, or as :meth:`PromptSet.draw`.
    """
    if len(seeds) == 0:
        raise ValueError("seeds must not be empty")
    return [PromptSet.draw(dataset, category, k, seed) for seed in seeds]
