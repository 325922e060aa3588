"""The paper's ablations as model options: which in-context signals a model fuses, and which
image-level feature its head eta reads.

InCTRL fuses three signals (book/equations.md §2-5): the text prior **T** (s_a, Eq. 6), the
patch residuals **P** (the map M and s_p, Eq. 1-2) and the image residual **I** (s_i,
Eq. 3-5). A model trained with only some of them (``InCTRLConfig.components``, e.g. ``"PI"``)
leaves the others out of everything it computes and learns from:

* without **P**, M is left out of the holistic map M+ (Eq. 7) and s_p out of the final score,
  which is then phi(M+) alone (Eq. 8);
* without **I**, s_i is left out of M+ and its focal-loss term out of the loss (Eq. 9-10), so
  the adapter psi and the head eta receive no gradient and nothing reads them;
* without **T**, s_a is left out of M+.

Whatever remains is still fused by the holistic head phi, so every combination trains the
same parts in the same loop. ``InCTRLConfig.image_feature`` picks what eta reads: the
in-context residual F_x = F_P - psi(g(x)) (Eq. 4, the method), or, for the paper's second
analysis, the concatenation [psi(g(x)), F_P] or the average (psi(g(x)) + F_P) / 2 of the
adapted query and the prototype (eta's first layer widens for the concatenation; its hidden
layers keep their sizes). The defaults (``"TPI"``, ``"residual"``) are the method.
"""

from __future__ import annotations

from dataclasses import replace

import torch

__all__ = ["ALL_COMPONENTS", "IMAGE_FEATURES", "check_components", "check_image_feature",
           "combinations", "feature_width", "image_feature", "with_ablation"]

#: The three signals: text prior, patch residuals, image residual (the paper's T, P, I).
ALL_COMPONENTS = "TPI"
#: What the image head eta can read: the method's residual and the paper's two alternatives.
IMAGE_FEATURES = ("residual", "concatenation", "average")


def check_components(components: str) -> str:
    """``components`` in the canonical order T, P, I, checked.

    Args:
        components: letters among T, P and I, e.g. ``"pi"`` or ``"IP"``.

    Returns:
        The letters upper-case in the order of :data:`ALL_COMPONENTS` (``"PI"``).

    Raises:
        ValueError: empty, a repeated letter or a letter other than T, P, I.
    """
    letters = str(components).upper()
    if not letters or len(set(letters)) != len(letters) or set(letters) - set(ALL_COMPONENTS):
        raise ValueError(f"components must be one or more distinct letters of 'TPI' (T: text prior, "
                         f"P: patch residuals, I: image residual), got {components!r}")
    return "".join(c for c in ALL_COMPONENTS if c in letters)


def check_image_feature(name: str) -> str:
    """``name`` if it is one of :data:`IMAGE_FEATURES`.

    Args:
        name: the image-level feature construction.

    Returns:
        ``name``.

    Raises:
        ValueError: an unknown construction.
    """
    if name not in IMAGE_FEATURES:
        raise ValueError(f"image_feature must be one of {IMAGE_FEATURES}, got {name!r}")
    return name


def combinations() -> list[str]:
    """The 7 non-empty combinations of T, P and I, singles first (``"T"`` ... ``"TPI"``)."""
    singles = list(ALL_COMPONENTS)
    pairs = [a + b for i, a in enumerate(ALL_COMPONENTS) for b in ALL_COMPONENTS[i + 1:]]
    return singles + pairs + [ALL_COMPONENTS]


def feature_width(name: str, dim: int) -> int:
    """The width of the feature eta reads: 2 E for the concatenation, else E.

    Args:
        name: the construction (:data:`IMAGE_FEATURES`).
        dim: E, the embedding width.

    Returns:
        The input width of eta.
    """
    return 2 * dim if check_image_feature(name) == "concatenation" else dim


def image_feature(name: str, adapted_query: torch.Tensor, prototype: torch.Tensor) -> torch.Tensor:
    """The feature the image head eta reads (Eq. 4 for the method's ``"residual"``).

    Args:
        name: ``"residual"`` (F_x = F_P - psi(g(x)), the official sign), ``"concatenation"``
            ([psi(g(x)), F_P]) or ``"average"`` ((psi(g(x)) + F_P) / 2).
        adapted_query: [B, E] psi(g(x)).
        prototype: [1 or B, E] F_P (Eq. 3).

    Returns:
        [B, E], or [B, 2E] for the concatenation.

    Raises:
        ValueError: an unknown construction.
    """
    if name == "residual":
        return prototype - adapted_query
    if name == "average":
        return (adapted_query + prototype) / 2
    if name == "concatenation":
        return torch.cat([adapted_query, prototype.expand_as(adapted_query)], dim=-1)
    return check_image_feature(name)  # raises


def with_ablation(model, components: str = ALL_COMPONENTS, image_feature: str = "residual"):
    """``model`` with other components or another image feature, sharing its backbone.

    The method's settings return ``model`` itself; any other gives a new model of the same
    class whose adapter and heads are drawn afresh from the same head seed.

    Args:
        model: an :class:`~inctrl.model.InCTRL`.
        components: the signals to fuse (:func:`check_components`).
        image_feature: what eta reads (:data:`IMAGE_FEATURES`).

    Returns:
        The model, on ``model``'s device (a new one in eval mode).
    """
    components, image_feature = check_components(components), check_image_feature(image_feature)
    if (model.config.components, model.config.image_feature) == (components, image_feature):
        return model
    config = replace(model.config, components=components, image_feature=image_feature)
    return type(model)(config, backbone=model.backbone).to(model.device)
