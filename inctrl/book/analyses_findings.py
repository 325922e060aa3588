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
    Finding(CHAPTER, "on both industrial targets adding I to T, P or T + P raises the final score",
            lambda m: all(_mean(m, g, v + "I") > _mean(m, g, v)
                          for g in INDUSTRIAL for v in ("T", "P", "TP"))),
    Finding(CHAPTER, "P + I beats T + P on both industrial targets",
            lambda m: all(_mean(m, g, "PI") > _mean(m, g, "TP") for g in INDUSTRIAL)),
    Finding(CHAPTER, "the best combination on both industrial targets is the full model T + P + I",
            lambda m: all(_best(m, g) == "TPI" for g in INDUSTRIAL)),
    Finding(CHAPTER, "the full model is above its s_p on ELPV and below it on the held-out world",
            lambda m: _mean(m, "elpv", "TPI") > _mean(m, "elpv", "TPI", "s_p")
            and _mean(m, "world", "TPI") < _mean(m, "world", "TPI", "s_p")),
    Finding(CHAPTER, "the model trained with P alone scores below its own s_p on both industrial targets",
            lambda m: all(_mean(m, g, "P") < _mean(m, g, "P", "s_p") for g in INDUSTRIAL)),
    Finding(CHAPTER, "on the digits every combination stays close to chance (below 0.6)",
            lambda m: max(_combos(m, "digits_n1", True) + _combos(m, "digits_n1", False)) < 0.6),
    Finding(CHAPTER, "the final scores of the three constructions differ by at most their spread on "
            "any target",
            lambda m: all(max(c.values()) - min(c.values()) <= max(_auroc(m, g, v)[1] for v in c)
                          for g in (*INDUSTRIAL, "digits_n1") for c in [_constructions(m, g, "full")])),
    Finding(CHAPTER, "on ELPV the residual's final score is the highest of the three constructions",
            lambda m: max(_constructions(m, "elpv", "full"), key=_constructions(m, "elpv", "full").get)
            == "TPI"),
    Finding(CHAPTER, "on both industrial targets the concatenation's s_i is the highest and the "
            "average's the lowest, the residual's between; on ELPV the average's is below chance",
            lambda m: all(_constructions(m, g, "s_i")["concatenation"] > _constructions(m, g, "s_i")["TPI"]
                          > _constructions(m, g, "s_i")["average"] for g in INDUSTRIAL)
            and _constructions(m, "elpv", "s_i")["average"] < 0.5),
    Finding(CHAPTER, "on the digits the three constructions' s_i stay near chance (0.45 to 0.55)",
            lambda m: all(0.45 <= x <= 0.55 for x in _constructions(m, "digits_n1", "s_i").values())),
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
