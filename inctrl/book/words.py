"""Counts and numbers as the book's prose writes them: "1 false alarm", "3 false alarms", "3".

Every count a chapter prints or glues goes through :func:`count` (or :func:`count_of`), so
the noun agrees with the number and an integer never shows as ``3.000``; other numbers go
through :func:`number`.
"""

from __future__ import annotations

import math
import numbers

__all__ = ["count", "count_of", "number", "plural", "power_of_ten_bound"]

_VOWELS = "aeiou"


def plural(noun: str) -> str:
    """The plural of an English noun phrase (its last word changes).

    Args:
        noun: a singular noun or noun phrase, e.g. ``"false alarm"``.

    Returns:
        ``"false alarms"``, ``"patches"``, ``"anomalies"``, ``"days"``.
    """
    if noun.endswith(("s", "x", "z", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and len(noun) > 1 and noun[-2] not in _VOWELS:
        return noun[:-1] + "ies"
    return noun + "s"


def _whole(n, what: str) -> int:
    """``n`` as an int; a count that is not a whole number is a bug upstream, said plainly."""
    if isinstance(n, bool) or not isinstance(n, numbers.Real):
        raise TypeError(f"{what} must be a number, got {n!r}")
    value = float(n)
    if not math.isfinite(value) or value != int(value):
        raise ValueError(f"{what} must be a whole number, got {n!r}")
    return int(value)


def count(n, noun: str, plural_form: str | None = None) -> str:
    """A count and its noun, in agreement: ``count(3, "false alarm")`` -> ``"3 false alarms"``.

    Args:
        n: a whole number (int, NumPy integer, or a float such as ``3.0``).
        noun: the singular noun.
        plural_form: the plural, for nouns :func:`plural` gets wrong (``"images"`` is fine,
            ``"mice"`` is not).

    Returns:
        ``"1 false alarm"``, ``"0 false alarms"``, ``"3 false alarms"``.

    Raises:
        ValueError: ``n`` is not a whole number.
    """
    k = _whole(n, "a count")
    return f"{k} {noun if k == 1 else (plural_form or plural(noun))}"


def count_of(k, n, noun: str, plural_form: str | None = None) -> str:
    """``count_of(2, 12, "defect")`` -> ``"2 of 12 defects"`` (the noun agrees with ``n``).

    Args:
        k: the part (a whole number).
        n: the whole (a whole number).
        noun: the singular noun.
        plural_form: as in :func:`count`.

    Returns:
        The phrase.

    Raises:
        ValueError: ``k`` or ``n`` is not a whole number, or ``k`` exceeds ``n``.
    """
    part, whole = _whole(k, "the part"), _whole(n, "the whole")
    if part > whole:
        raise ValueError(f"the part ({part}) cannot exceed the whole ({whole})")
    return f"{part} of {count(whole, noun, plural_form)}"


def number(x, digits: int = 3) -> str:
    """A number for prose: whole numbers without decimals, others with ``digits`` decimals.

    Args:
        x: a real number.
        digits: decimals of a number that is not whole.

    Returns:
        ``number(3.0)`` -> ``"3"``, ``number(0.76123)`` -> ``"0.761"``, ``number(12)`` ->
        ``"12"``.
    """
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        raise TypeError(f"number() needs a real number, got {x!r}")
    value = float(x)
    if math.isfinite(value) and value == int(value):
        return str(int(value))
    return f"{value:.{digits}f}"


def power_of_ten_bound(x) -> str:
    """A small non-negative number for prose, as the power of ten it stays below.

    Sentences never show e-notation; a rounding difference reads "below 10⁻⁶" (Unicode
    superscripts, which render the same in Markdown, glued text and plain output).

    Args:
        x: a non-negative real number.

    Returns:
        ``"0"`` for 0, else ``"below 10ⁿ"`` with the smallest such ``n``:
        ``power_of_ten_bound(2.4e-7)`` -> ``"below 10⁻⁶"``.
    """
    value = float(x)
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"power_of_ten_bound() needs a finite number >= 0, got {x!r}")
    if value == 0:
        return "0"
    exponent = math.floor(math.log10(value)) + 1
    return "below 10" + str(exponent).translate(_SUPERSCRIPTS)


_SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
