"""The text-prompt ensembles behind InCTRL's text prior (book/equations.md §4).

A category name is turned into 154 "normal" and 88 "anomalous" sentences: 7 normal and 4
anomalous state phrases, each placed in 22 photo templates. CIFAR-10 class names (and
"animal") get one sentence per state instead, as in the official code. The name is read as
given, with the official rule only (``_`` becomes a space): a readable name such as
``"solar cell"`` for ELPV is the caller's explicit choice, never a table inside the core, so a
score never depends on a name nobody passed in. The templates and state phrases are the
official ones, grammar included ("a unblemished ..."): the released weights were trained with
exactly these sentences.
"""

from __future__ import annotations

NORMAL_STATES = (
    "{}",
    "flawless {}",
    "perfect {}",
    "unblemished {}",
    "{} without flaw",
    "{} without defect",
    "{} without damage",
)

ANOMALOUS_STATES = (
    "damaged {}",
    "{} with flaw",
    "{} with defect",
    "{} with damage",
)

TEMPLATES = (
    "a cropped photo of the {}.",
    "a cropped photo of a {}.",
    "a close-up photo of a {}.",
    "a close-up photo of the {}.",
    "a bright photo of a {}.",
    "a bright photo of the {}.",
    "a dark photo of the {}.",
    "a dark photo of a {}.",
    "a jpeg corrupted photo of a {}.",
    "a jpeg corrupted photo of the {}.",
    "a blurry photo of the {}.",
    "a blurry photo of a {}.",
    "a photo of a {}.",
    "a photo of the {}.",
    "a photo of a small {}.",
    "a photo of the small {}.",
    "a photo of a large {}.",
    "a photo of the large {}.",
    "a photo of the {} for visual inspection.",
    "a photo of a {} for visual inspection.",
    "a photo of the {} for anomaly detection.",
    "a photo of a {} for anomaly detection.",
)

# Semantic one-vs-all datasets use a single, different sentence per state.
SEMANTIC_NAMES = frozenset(
    {"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
     "animal"}
)


def object_name(category: str) -> str:
    """The object word of a category or dataset name, as the text prior reads it.

    The official rule and nothing else: underscores become spaces (``"metal_nut"`` ->
    ``"metal nut"``, ``"elpv"`` stays ``"elpv"``). Pass a readable name yourself if you
    want one (``name="solar cell"``).

    Args:
        category: a category or dataset name.

    Returns:
        The object name.

    Raises:
        ValueError: the name is empty (or only underscores and spaces).
    """
    name = str(category).replace("_", " ")
    if not name.strip():
        raise ValueError("the category name used by the text prior must not be empty")
    return name


def prompt_ensemble(category: str) -> tuple[list[str], list[str]]:
    """The normal and the anomalous sentences of the text prior for ``category``.

    Args:
        category: a category or dataset name (see :func:`object_name`).

    Returns:
        ``(normal, anomalous)``: 154 and 88 sentences, or one each for a semantic
        (CIFAR-10) class name.

    Raises:
        ValueError: the name is empty.

    Example:
        >>> normal, anomalous = prompt_ensemble("metal_nut")
        >>> len(normal), len(anomalous), normal[0]
        (154, 88, 'a cropped photo of the metal nut.')
    """
    name = object_name(category)
    if name in SEMANTIC_NAMES:
        return ([f"a photo of {name} for anomaly detection."],
                [f"a photo without {name} for anomaly detection."])
    normal = [t.format(s.format(name)) for s in NORMAL_STATES for t in TEMPLATES]
    anomalous = [t.format(s.format(name)) for s in ANOMALOUS_STATES for t in TEMPLATES]
    return normal, anomalous
