"""The relations chapter 6b states in words, as checks on the results of the analyses.

The chapter reads the results of ``python -m inctrl.book.analyses`` (committed as
``inctrl/book/results/analyses.json``) and writes them into its ``metrics.json``; each
statement its text makes about them is listed here with a check, in the form of
:mod:`inctrl.book.findings`. ``tests/test_analyses.py`` runs every check on the committed
results, so a new backbone that turns a finding around fails the tests instead of leaving
the text wrong. Change the text and its finding together.
"""

from __future__ import annotations

from ..ablation import combinations
from .analyses import summary
from .findings import Finding

__all__ = ["ANALYSES_FINDINGS", "CHAPTER", "check_analyses"]

CHAPTER = "06b_what_makes_inctrl_work"


def _auroc(m: dict, group: str, variant: str, score: str = "full") -> tuple[float, float]:
    """Mean and std of one score over head seeds and prompt draws."""
    row = summary(m["rows"]).set_index(["group", "variant"]).loc[(group, variant)]
    return float(row[score]), float(row[f"{score}_std"])


def _mean(m: dict, group: str, variant: str, score: str = "full") -> float:
    return _auroc(m, group, variant, score)[0]


def _n_curve(m: dict, score: str) -> list[float]:
    return [_mean(m, f"digits_n{n}", "TPI", score) for n in m["config"]["n_values"]]


def _combos(m: dict, group: str, with_p: bool) -> list[float]:
    return [_mean(m, group, v) for v in combinations() if ("P" in v) == with_p]


def _best(m: dict, group: str) -> str:
    return max(combinations(), key=lambda v: _mean(m, group, v))


def _constructions(m: dict, group: str, score: str) -> dict[str, float]:
    return {v: _mean(m, group, v, score) for v in ("TPI", "concatenation", "average")}


def _sp(m: dict, group: str) -> float:
    """The parameter-free patch score s_p (the same for every trained combination)."""
    return _mean(m, group, "P", "s_p")


INDUSTRIAL = ("elpv", "world")

def _construction_tie(m: dict, group: str) -> bool:
    """The residual's final score is the lowest of the three, by less than the largest spread."""
    full = _constructions(m, group, "full")
    spread = max(_auroc(m, group, v)[1] for v in full)
    return min(full, key=full.get) == "TPI" and max(full.values()) - full["TPI"] < spread


def _rise_then_below(curve: list[float]) -> bool:
    """Over n = 1, 2, ..., 5: higher at n = 2 than at n = 1, lower at the last n than at n = 1."""
    return curve[1] > curve[0] and curve[-1] < curve[0]


ANALYSES_FINDINGS: list[Finding] = [
    Finding(CHAPTER, "adding I raises the final score of the model trained with P on both industrial "
            "targets",
            lambda m: all(_mean(m, g, "PI") > _mean(m, g, "P") for g in INDUSTRIAL)),
    Finding(CHAPTER, "P + I is the best combination on ELPV",
            lambda m: _best(m, "elpv") == "PI"),
    Finding(CHAPTER, "adding T to P + I lowers the final score on ELPV",
            lambda m: _mean(m, "elpv", "TPI") < _mean(m, "elpv", "PI")),
    Finding(CHAPTER, "the model trained with T alone scores what s_a scores (within 0.01) on both "
            "industrial targets",
            lambda m: all(abs(_mean(m, g, "T") - _mean(m, g, "T", "s_a")) < 0.01 for g in INDUSTRIAL)),
    Finding(CHAPTER, "on ELPV every model trained with P beats every model trained without it",
            lambda m: min(_combos(m, "elpv", True)) > max(_combos(m, "elpv", False))),
    Finding(CHAPTER, "on both industrial targets every combination, the full model included, stays below "
            "the parameter-free s_p",
            lambda m: all(_mean(m, g, v) < _sp(m, g) for g in INDUSTRIAL for v in combinations())),
    Finding(CHAPTER, "on the digits even the best combination stays below 0.7, too little to rank the "
            "signals",
            lambda m: max(_combos(m, "digits_n1", True) + _combos(m, "digits_n1", False)) < 0.7),
    Finding(CHAPTER, "on both industrial targets the residual's final score is the lowest of the three "
            "constructions, by less than the largest spread over head seeds and draws (a tie)",
            lambda m: all(_construction_tie(m, g) for g in INDUSTRIAL)),
    Finding(CHAPTER, "on both industrial targets the residual's s_i is the lowest of the three",
            lambda m: all(min(_constructions(m, g, "s_i"), key=_constructions(m, g, "s_i").get) == "TPI"
                          for g in INDUSTRIAL)),
    Finding(CHAPTER, "on the digits all three s_i stay near chance (0.45 to 0.55)",
            lambda m: all(0.45 <= x <= 0.55 for x in _constructions(m, "digits_n1", "s_i").values())),
    Finding(CHAPTER, "the full model's final score is lower with five normal digits than with one, after a "
            "rise at two, and its s_p follows the same path",
            lambda m: all(_rise_then_below(_n_curve(m, s)) for s in ("full", "s_p"))),
    Finding(CHAPTER, "with K prompts and five normal digits, at least one normal digit has no prompt of its "
            "own",
            lambda m: m["config"]["shots"] < max(int(n) for n in m["config"]["n_values"])),
]


def check_analyses(metrics: dict) -> list[str]:
    """The statements of chapter 6b that ``metrics`` contradict.

    Args:
        metrics: the analyses' results (or the chapter's ``metrics.json``, which holds them).

    Returns:
        The contradicted statements; empty when every finding holds.
    """
    return [f.statement for f in ANALYSES_FINDINGS if not f.holds(metrics)]
