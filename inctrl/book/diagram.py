"""The InCTRL pipeline as a diagram: the book's map of Eq. 1-8 (index chapter).

:func:`pipeline_figure` draws query, prompts and object name through the frozen CLIP
encoders, the three residuals and the final score, with the tapped layers of every profile
(:func:`profile_taps`: blocks of a ViT, stages of a CNN).
"""

from __future__ import annotations

from collections.abc import Mapping

from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from .viz import subplots

__all__ = ["pipeline_figure", "profile_taps"]


def profile_taps() -> dict[str, tuple[tuple[int, ...], int, str]]:
    """The tapped layers of every profile, from the open_clip configs (no weights are loaded).

    Returns:
        ``{profile: (tapped layers, depth, "blocks" or "stages")}``: a ViT's blocks, or the stages
        of a timm tower's trunk (built without weights to count them).
    """
    import open_clip
    import timm

    from ..backbone import PROFILES, default_taps, trunk_stages

    out = {}
    for name, spec in PROFILES.items():
        vision = open_clip.get_model_config(spec.model_name)["vision_cfg"]
        if "timm_model_name" in vision:
            depth = len(trunk_stages(timm.create_model(vision["timm_model_name"], pretrained=False)))
            out[name] = (tuple(spec.taps), depth, "stages")
        else:
            depth = int(vision["layers"])
            out[name] = (tuple(spec.taps or default_taps(depth)), depth, "blocks")
    return out


def _box(ax, xy, text, color, width, height, fontsize=9.0):
    x, y = xy
    ax.add_patch(FancyBboxPatch((x - width / 2, y - height / 2), width, height,
                                boxstyle="round,pad=0.04,rounding_size=0.12", linewidth=1.1,
                                edgecolor=color, facecolor=color + "22"))
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)


def _arrow(ax, start, end, color="0.35"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=10, linewidth=1.0,
                                 color=color, shrinkA=2, shrinkB=2))


def pipeline_figure(ax=None, taps: Mapping[str, tuple[tuple[int, ...], int, str]] | None = None):
    """The InCTRL pipeline as a diagram (paper Eq. 1-8), one page wide.

    Query and prompts go through the frozen CLIP encoder; the patch level (Eq. 1-2), the
    image level (Eq. 3-5) and the text prior (Eq. 6) meet in the holistic map and the final
    score (Eq. 7-8). Trainable parts are orange, frozen blue, parameter-free gray.

    Args:
        ax: the axes to draw in; created one page wide when None.
        taps: the tapped layers of each profile (default :func:`profile_taps`).

    Returns:
        The axes.
    """
    if ax is None:
        _, ax = subplots(height=4.6)
    taps = taps if taps is not None else profile_taps()
    frozen, train, op, data = "#3b75af", "#e8a33d", "#6b6b6b", "#3f9a6b"
    ax.set_xlim(0, 10)
    ax.set_ylim(0, 6.6)
    ax.axis("off")
    _box(ax, (1.0, 4.9), "query x", data, 1.5, 0.5)
    _box(ax, (1.0, 3.1), "K normal\nprompts", data, 1.5, 0.75)
    _box(ax, (1.0, 1.2), "object name\n(\"solar cell\")", data, 1.5, 0.75)
    _box(ax, (3.0, 4.0), "frozen CLIP\nimage encoder", frozen, 1.7, 0.8)
    _box(ax, (3.0, 1.2), "frozen CLIP\ntext encoder", frozen, 1.7, 0.75)
    for y in (4.9, 3.1):
        _arrow(ax, (1.75, y), (2.15, 4.0))
    _arrow(ax, (1.75, 1.2), (2.15, 1.2))
    # the three residuals
    _box(ax, (5.75, 5.7), "patch tokens of the tapped layers\n"
         "$M^l$: nearest prompt patch (Eq. 1)\n$M$, $s_p = \\max M$ (Eq. 2)", op, 3.1, 1.05)
    _box(ax, (5.75, 3.55), "adapter $\\psi$, prototype (Eq. 3)\n$F_x = F_P - \\psi(g(x))$ (Eq. 4)\n"
         "head $\\eta$: $s_i$ (Eq. 5)", train, 3.1, 1.05)
    _box(ax, (5.75, 1.35), "$t_n$, $t_a$ from 154 + 88 sentences\n$s_a$: softmax (Eq. 6)", op, 3.1, 0.8)
    _arrow(ax, (3.85, 4.25), (4.2, 5.45))
    _arrow(ax, (3.85, 3.85), (4.2, 3.6))
    _arrow(ax, (3.85, 3.7), (4.2, 1.6))
    _arrow(ax, (3.85, 1.2), (4.2, 1.2))
    # holistic map and final score
    _box(ax, (8.75, 3.55), "$M^+ = M + s_i + s_a$\nhead $\\phi$ (Eq. 7)", train, 2.1, 0.8)
    _box(ax, (8.75, 1.35), "$s = \\frac{1}{2}(\\phi(M^+) + s_p)$\n(Eq. 8)", op, 2.1, 0.8)
    _arrow(ax, (7.3, 5.5), (8.2, 3.95))
    _arrow(ax, (7.3, 3.55), (7.7, 3.55))
    _arrow(ax, (7.3, 1.45), (8.0, 3.15))
    _arrow(ax, (8.75, 3.15), (8.75, 1.75))
    _arrow(ax, (7.3, 5.85), (9.7, 5.85))
    ax.annotate("", xy=(9.7, 1.75), xytext=(9.7, 5.85),
                arrowprops={"arrowstyle": "-|>", "color": "0.35", "lw": 1.0, "mutation_scale": 10})
    ax.text(9.75, 5.95, "$s_p$", fontsize=9, ha="left")
    tap_text = "tapped: " + ";  ".join(
        f"{name} {unit} {', '.join(str(t) for t in layers)} of {depth}"
        for name, (layers, depth, unit) in taps.items())
    ax.text(5.0, 6.45, tap_text, ha="center", va="center", fontsize=9)
    handles = [FancyBboxPatch((0, 0), 1, 1, facecolor=c + "22", edgecolor=c) for c in
               (data, frozen, train, op)]
    ax.legend(handles, ["inputs", "frozen", "trained", "no parameters"],
              loc="lower center", ncol=4, bbox_to_anchor=(0.5, -0.08), fontsize=9)
    return ax
