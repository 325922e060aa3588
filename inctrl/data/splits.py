"""The one train/test rule for datasets without an official split (data/README.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from sklearn.model_selection import train_test_split

__all__ = ["NORMAL_TEST_SIZE", "SPLIT_RANDOM_STATE", "split_normals"]

#: Fraction of the normal images that goes to test/good.
NORMAL_TEST_SIZE = 0.25
#: ``random_state`` of scikit-learn's ``train_test_split`` (fixed by the protocol).
SPLIT_RANDOM_STATE = 42

T = TypeVar("T")


def split_normals(
    items: Sequence[T],
    test_size: float = NORMAL_TEST_SIZE,
    random_state: int = SPLIT_RANDOM_STATE,
) -> tuple[list[T], list[T]]:
    """Split normal items into (train, test) the way the paper protocol does.

    The items are sorted first, so the result depends only on the set of items, not on the
    order a file system lists them in; then
    ``train_test_split(items, test_size=0.25, random_state=42)`` is applied. Every anomaly
    goes to test, so anomalies never pass through this function.

    ``test_size=0`` puts everything in train. Fewer than two items cannot be split and
    all go to train.

    Args:
        items: the normal items (paths or anything sortable).
        test_size: the fraction that goes to test.
        random_state: ``train_test_split``'s seed.

    Returns:
        ``(train, test)``, each sorted.
    """
    ordered = sorted(items)
    if test_size == 0 or len(ordered) < 2:
        return list(ordered), []
    train, test = train_test_split(ordered, test_size=test_size, random_state=random_state)
    return sorted(train), sorted(test)
