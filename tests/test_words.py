"""The book's count and number wording (inctrl.book.words)."""

from __future__ import annotations

import numpy as np
import pytest

from inctrl.book.words import count, count_of, number, plural


@pytest.mark.parametrize("noun, expected", [
    ("false alarm", "false alarms"), ("patch", "patches"), ("anomaly", "anomalies"),
    ("day", "days"), ("class", "classes"), ("box", "boxes"), ("image", "images"),
])
def test_plural_of_the_last_word(noun, expected):
    assert plural(noun) == expected


def test_count_agrees_with_the_number():
    assert count(1, "false alarm") == "1 false alarm"
    assert count(0, "false alarm") == "0 false alarms"
    assert count(3, "false alarm") == "3 false alarms"
    assert count(2, "mouse", "mice") == "2 mice"
    assert count(1, "mouse", "mice") == "1 mouse"


def test_count_prints_whole_floats_and_numpy_as_integers():
    assert count(3.0, "defect") == "3 defects"
    assert count(np.int64(1), "defect") == "1 defect"
    assert count(np.float32(12.0), "checkpoint") == "12 checkpoints"


def test_count_refuses_what_is_not_a_count():
    with pytest.raises(ValueError, match="whole number, got 2.5"):
        count(2.5, "defect")
    with pytest.raises(ValueError, match="whole number"):
        count(float("nan"), "defect")
    with pytest.raises(TypeError, match="must be a number"):
        count("3", "defect")
    with pytest.raises(TypeError):
        count(True, "defect")


def test_count_of_agrees_with_the_whole():
    assert count_of(2, 12, "defect") == "2 of 12 defects"
    assert count_of(1, 1, "defect") == "1 of 1 defect"
    assert count_of(0, 7.0, "target") == "0 of 7 targets"
    with pytest.raises(ValueError, match="cannot exceed"):
        count_of(3, 2, "defect")


def test_number_drops_decimals_of_whole_numbers_only():
    assert number(3.0) == "3"
    assert number(np.float64(12)) == "12"
    assert number(0.76123) == "0.761"
    assert number(0.7605, digits=2) == "0.76"
    assert number(-2.0) == "-2"
    assert number(float("inf")) == "inf"


def test_power_of_ten_bound_reads_without_e_notation():
    from inctrl.book.words import power_of_ten_bound

    assert power_of_ten_bound(2.4e-7) == "below 10⁻⁶"
    assert power_of_ten_bound(1e-6) == "below 10⁻⁵"  # 10^-6 itself is not below 10^-6
    assert power_of_ten_bound(0.03) == "below 10⁻¹"
    assert power_of_ten_bound(0.0) == "0"
    with pytest.raises(ValueError, match="finite number >= 0"):
        power_of_ten_bound(-1e-3)
