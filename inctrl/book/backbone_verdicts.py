"""The appendix's sentences about the offline backbone, picked from its numbers.

The appendix (chapter 9) says where the offline backbone stands: against the paper on ELPV,
against a random backbone of the same shape, and whether InCTRL's learned parts add to the
patch score. Which of these comparisons comes out which way depends on the backbone, so no
sentence is written in advance: :func:`verdicts` picks each one from the measured numbers,
and :mod:`inctrl.book.findings` checks the choice against them again.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["FAR_BELOW_PAPER", "verdicts"]

#: A full-score AUROC this far below the paper's counts as "far below".
FAR_BELOW_PAPER = 0.05


def _elpv_gap(full: float, paper: float) -> str:
    if full < paper - FAR_BELOW_PAPER:
        return ("That is far below the paper's: the mini backbone is small, it was pretrained "
                "offline on a procedural world without a single solar cell, and InCTRL's heads were "
                "trained on a stand-in for MVTec AD drawn from that world (chapter 5).")
    if full <= paper + FAR_BELOW_PAPER:
        return "That is close to the paper's, with a different backbone and training set."
    return "That is above the paper's, with a different backbone and training set."


def _world(v: Mapping[str, float], stored: Mapping[str, float]) -> str:
    learned = v["sp_world"] > stored["random_sp_world"] and v["pixel_world"] > stored["random_pixel_world"]
    first = ("The backbone has learned patch features that transfer to families it never saw."
             if learned else "Its patch features do not beat the random backbone's on both measures.")
    if v["full_world"] < v["sp_world"]:
        fusion = (f"InCTRL's learned part does not add to them: the full score, {v['full_world']:.3f}, "
                  "stays below $s_p$.")
    else:
        fusion = (f"InCTRL's learned part adds to them: the full score, {v['full_world']:.3f}, is "
                  "above $s_p$.")
    sa = v["sa_world"]
    if sa < 0.6:
        text = (f"The text prior $s_a$ ({sa:.3f}) is weak: the text tower has learned what "
                "\u201cdamaged\u201d means for the pretraining families, not for names it never saw.")
    else:
        text = f"The text prior $s_a$ reaches {sa:.3f}."
    return " ".join((first, fusion, text))


def _elpv(v: Mapping[str, float], stored: Mapping[str, float]) -> str:
    below = ", below chance." if v["sa_elpv"] < 0.5 else "."
    sa = f"and $s_a$ for \u201celpv\u201d is {v['sa_elpv']:.3f}{below}"
    if v["sp_elpv"] < stored["random_sp_elpv"]:
        out = (f"The mini backbone does worse than the random one: $s_p$ is {v['sp_elpv']:.3f} (random "
               f"backbone: {stored['random_sp_elpv']:.3f}), the full score {v['full_elpv']:.3f}, {sa}")
        if stored["colour_elpv"] > v["sp_elpv"]:
            out += (" ELPV's defective cells are mainly darker than the normal ones: the distance of the "
                    f"mean colour to the prompts' alone reaches {stored['colour_elpv']:.3f}. A random ViT "
                    "passes that global grey level through to every token; features trained to tell local "
                    "texture from local damage, on a world of coloured materials, keep less of it.")
        return out
    return (f"The mini backbone's $s_p$, {v['sp_elpv']:.3f}, is above the random backbone's "
            f"({stored['random_sp_elpv']:.3f}); the full score is {v['full_elpv']:.3f}, {sa}")


def verdicts(values: Mapping[str, float], stored: Mapping[str, float], paper_auroc: float) -> dict[str, str]:
    """The appendix's comparison sentences, each chosen by the numbers it states.

    Args:
        values: this run's AUROCs at the middle K: ``full_elpv``, ``sp_elpv``, ``sa_elpv``,
            ``full_world``, ``sp_world``, ``sa_world`` and ``pixel_world``.
        stored: the stored ablation's numbers: ``random_sp_world``, ``random_pixel_world``,
            ``random_sp_elpv`` and ``colour_elpv`` (the mean-colour baseline on ELPV).
        paper_auroc: the paper's ELPV AUROC at the same K.

    Returns:
        ``elpv_gap`` (this run against the paper), ``world_verdict`` and ``elpv_verdict``
        (against the random backbone, and what the learned parts add), ``summary_world`` and
        ``summary_elpv`` (the same, one line each for the summary).
    """
    adds = values["full_world"] >= values["sp_world"]
    transfers = values["pixel_world"] > stored["random_pixel_world"]
    summary_world = (
        (f"On families it never saw, the mini backbone makes InCTRL's patch residual work (pixel AUROC "
         f"{values['pixel_world']:.3f} against {stored['random_pixel_world']:.3f} for a random backbone); "
         if transfers else
         f"On families it never saw, the mini backbone's patch map (pixel AUROC {values['pixel_world']:.3f}) "
         f"does not beat a random backbone's ({stored['random_pixel_world']:.3f}); ")
        + ("the learned heads add to it." if adds else "the learned heads do not add to it yet."))
    summary_elpv = ("On ELPV it does worse than a random backbone."
                    if values["sp_elpv"] < stored["random_sp_elpv"] else
                    "On ELPV its patch score is above a random backbone's.")
    return {"elpv_gap": _elpv_gap(values["full_elpv"], paper_auroc),
            "world_verdict": _world(values, stored), "elpv_verdict": _elpv(values, stored),
            "summary_world": summary_world, "summary_elpv": summary_elpv}
