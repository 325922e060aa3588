"""Helpers for the data tests: tiny image trees and checksums of folders."""

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image


def write_png(path: Path, array: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def noise(rng: np.random.Generator, shape) -> np.ndarray:
    return rng.integers(0, 256, shape, dtype=np.uint8)


def make_canonical(root: Path, spec: dict, size: int = 8, seed: int = 0) -> Path:
    """spec: {category: (n_train_good, n_test_good, {defect: n})}; defects get masks."""
    rng = np.random.default_rng(seed)
    for cat, (n_train, n_test, defects) in spec.items():
        for i in range(n_train):
            write_png(root / cat / "train" / "good" / f"{i:03d}.png", noise(rng, (size, size)))
        for i in range(n_test):
            write_png(root / cat / "test" / "good" / f"{i:03d}.png", noise(rng, (size, size)))
        for defect, n in defects.items():
            for i in range(n):
                write_png(root / cat / "test" / defect / f"{i:03d}.png", noise(rng, (size, size)))
                m = np.zeros((size, size), np.uint8)
                m[: i + 1, :2] = 255
                write_png(root / cat / "ground_truth" / defect / f"{i:03d}_mask.png", m)
    return root


def tree_checksum(folder: Path) -> dict[str, str]:
    """{relative path: sha1} of every file under folder (to prove it was not modified)."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha1(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
