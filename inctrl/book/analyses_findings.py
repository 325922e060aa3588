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


INDUSTRIAL = ("elpv", "world")

ANALYSES_FINDINGS: list[Finding] = [
    Finding(CHAPTER, "on ELPV and the held-out world every model trained with P beats every model "
            "trained without it",
            lambda m: all(min(_combos(m, g, True)) > max(_combos(m, g, False)) for g in INDUSTRIAL)),
    Finding(CHAPTER, "the best combination on both industrial targets is T + P, ahead of the full model",
            lambda m: all(_best(m, g) == "TP" for g in INDUSTRIAL)),
    Finding(CHAPTER, "on ELPV adding I to a combination never raises its final score by more than 0.01",
            lambda m: max(_mean(m, "elpv", v + "I") - _mean(m, "elpv", v) for v in ("T", "P", "TP")) <= 0.01),
    Finding(CHAPTER, "the text prior adds more than the image residual to P on both industrial targets",
            lambda m: all(_mean(m, g, "TP") > _mean(m, g, "PI") for g in INDUSTRIAL)),
    Finding(CHAPTER, "the model trained with P alone scores below its own s_p on both industrial targets",
            lambda m: all(_mean(m, g, "P") < _mean(m, g, "P", "s_p") for g in INDUSTRIAL)),
    Finding(CHAPTER, "on the digits every combination stays close to chance (below 0.65), the best is P + I",
            lambda m: _best(m, "digits_n1") == "PI" and max(_combos(m, "digits_n1", True)
                                                            + _combos(m, "digits_n1", False)) < 0.65),
    Finding(CHAPTER, "the final scores of the three constructions differ by at most their spread on "
            "any target",
            lambda m: all(max(c.values()) - min(c.values()) <= max(_auroc(m, g, v)[1] for v in c)
                          for g in (*INDUSTRIAL, "digits_n1") for c in [_constructions(m, g, "full")])),
    Finding(CHAPTER, "on the digits the residual's s_i beats the concatenation's and the average's",
            lambda m: (lambda c: c["TPI"] > max(c["concatenation"], c["average"]))(
                _constructions(m, "digits_n1", "s_i"))),
    Finding(CHAPTER, "on both industrial targets the average's s_i is at least the residual's; on ELPV "
            "no construction's s_i is above chance, on the world the concatenation's is the lowest",
            lambda m: all(_constructions(m, g, "s_i")["average"] >= _constructions(m, g, "s_i")["TPI"]
                          for g in INDUSTRIAL)
            and max(_constructions(m, "elpv", "s_i").values()) < 0.5
            and min(_constructions(m, "world", "s_i"), key=_constructions(m, "world", "s_i").get)
            == "concatenation"),
    Finding(CHAPTER, "the full model's final score and its s_p fall from one to five normal digits, and "
            "with five every signal is below 0.55",
            lambda m: _n_curve(m, "full")[-1] < _n_curve(m, "full")[0]
            and _n_curve(m, "s_p")[-1] < _n_curve(m, "s_p")[0]
            and all(_n_curve(m, s)[-1] < 0.55 for s in ("full", "s_p", "s_i", "s_a"))),
]


def check_analyses(metrics: dict) -> list[str]:
    """The statements of chapter 6b that ``metrics`` contradict.

    Args:
        metrics: the analyses' results (or the chapter's ``metrics.json``, which holds them).

    Returns:
        The contradicted statements; empty when every finding holds.
    """
    return [f.statement for f in ANALYSES_FINDINGS if not f.holds(metrics)]
