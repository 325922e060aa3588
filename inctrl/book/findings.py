"""The relations the chapters state in words, as checks on the numbers they measured.

A chapter's text is written by a person and states what its numbers show ("the residual
works in both contexts", "the loss falls for every K"); the numbers themselves are glued in.
Each such statement is listed here with a check on the chapter's ``metrics.json``, and
``tests/test_findings.py`` runs every check on the outputs of the book build, so that a
change of backbone, data or code that turns a finding around fails the tests instead of
leaving the text wrong. Change the text and its finding together.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .tables import within_spread

__all__ = ["FINDINGS", "Finding", "check_chapter"]


@dataclass(frozen=True)
class Finding:
    """A statement a chapter makes in words, and its check.

    Attributes:
        chapter: the notebook's file stem (``"05_training"``).
        statement: the statement, as the text says it.
        holds: the check: True when the chapter's ``metrics.json`` (as a dict) bears the
            statement out.
    """

    chapter: str
    statement: str
    holds: Callable[[dict], bool]


def _toy(m: dict) -> bool:
    toy = m["toy_auroc"]
    residual = min(toy["residual_A"], toy["residual_B"])
    return toy["absolute_A"] > 0.95 and toy["absolute_B"] < 0.2 and residual > 0.95


def _farther_from_fabric(m: dict) -> bool:
    elpv, textures = (m["contexts"][c]["mean_sp_normal_draws"] for c in ("ELPV", "textures"))
    return all(e < t for e, t in zip(elpv, textures, strict=True))


def _corners(m: dict) -> bool:
    """The corner sentence the chapter picked, against the prompts' cell types and the counts."""
    corner, text = m["argmax_in_corner"], m["corner_reading"]
    if "mono" in m["prompt_cell_types"]:
        return "show chamfered corners too" in text
    mono_more = corner.get("corner_normal_mono", 0) > corner.get("corner_normal_poly", 0)
    return ("stand out" in text) == mono_more


def _residual_verdict(m: dict) -> bool:
    return all(m["residual_informative"][key] == (abs(m["auroc"][key] - 0.5) >= 0.05)
               for key in ("raw_residual_norm", "adapted_residual_norm"))


def _complement_leader(m: dict) -> bool:
    c = m["complement"]
    leader = ("the patch residual" if c["n_sp_higher"] > c["n_si_higher"] else
              "the image residual" if c["n_si_higher"] > c["n_sp_higher"] else None)
    return c["leader"] == leader and (leader is None or leader in c["story"])


def _sa_verdict(m: dict) -> bool:
    """The chapter picks one of four sentences from the AUROCs of the two names."""
    if m["profile"] == "paper":
        return m["sa_verdict"] == ""
    best, worst = max(m["auroc_by_name"].values()), min(m["auroc_by_name"].values())
    expected = "does not separate" if best < 0.55 else "disagree" if worst < 0.5 else "With both names"
    return expected in m["sa_verdict"]


def _focal_floor(m: dict) -> bool:
    curve = m["loss_curve_official"]
    return abs(curve["best_normal"] - curve["worst_anomalous"]) < 1e-6 and curve["best_anomalous"] > 0


def _loss_falls(m: dict) -> bool:
    return all(v["last_epoch"] < v["first_epoch"] for v in m["loss"].values())


def _encode_longer(m: dict) -> bool:
    """The run note says encoding the auxiliary set took longer than training exactly when it did."""
    seconds = m["seconds"]
    train = sum(v for s, v in seconds.items() if s.startswith("train_k"))
    longer = "encode_aux" in seconds and seconds["encode_aux"] > train
    return (m["encode_longer"] == longer and ("took longer than training" in m["run_note"]) == longer
            and ("loaded them" in m["run_note"]) == m["run_cached"])


def _f1_near_all(m: dict) -> bool:
    f1 = list(m["decisions"].values())[1]
    return m["f1_near_flag_all"] == (f1["flagged"] >= 0.75 * m["n_new"])


def _batching_gains(m: dict) -> bool:
    machines = m["batching"].values()
    gains = {kind: [b["gain"] for b in machines if b["kind"] == kind] for kind in ("cuda", "cpu")}
    said = m["batching_sentence"]
    quoted = all(f"{max(v):.1f}\u00d7 on a {kind.replace('cuda', 'gpu').upper()}" in said
                 for kind, v in gains.items() if v)  # the largest gain of each kind of machine
    return quoted and (("a GPU needs large batches" in said)
                       == bool(gains["cuda"] and gains["cpu"] and min(gains["cuda"]) > max(gains["cpu"])))


def _quantiles_trade(m: dict) -> bool:
    rows = list(m["quantiles"].values())  # from the highest percentile down
    return all(a["caught"] <= b["caught"] and a["false alarms"] <= b["false alarms"]
               for a, b in zip(rows, rows[1:]))


def _elpv(m: dict) -> dict[str, dict[str, float]]:
    """{K: {score: AUROC}} of chapter 6's main table."""
    out: dict[str, dict[str, float]] = {}
    for row in m["table"]["elpv"]:
        out.setdefault(str(row["k"]), {})[row["score"]] = row["auroc"]
    return out


def _ablation_headline(m: dict) -> bool:
    below = sum(v["full"] < v["s_p"] for v in _elpv(m).values())
    if below == len(_elpv(m)):
        return "stays below" in m["headline"]
    return ("is above" in m["headline"]) if below == 0 else ("and above it for the others" in m["headline"])


def _k_story(m: dict) -> bool:
    """A dip of a trained score (full, s_i) is named exactly when there is one, and blamed on the
    heads only when s_p, which has no trained part, rises with K or stays within its spread."""
    rows = {(str(r["k"]), r["score"]): (r["auroc"], r["auroc_std"]) for r in m["table"]["elpv"]}
    ks = sorted({int(k) for k, _ in rows})
    mean = {c: {k: rows[(str(k), c)][0] for k in ks} for c in ("full", "s_i", "s_p")}
    dipped = any(mean[c][k] < mean[c][a] and mean[c][k] < mean[c][b]
                 for c in ("full", "s_i") for a, k, b in zip(ks, ks[1:], ks[2:]))
    lo, hi = (min(ks, key=mean["s_p"].get), max(ks, key=mean["s_p"].get))
    sp_steady = (within_spread(rows[(str(lo), "s_p")], rows[(str(hi), "s_p")])
                 or all(mean["s_p"][a] <= mean["s_p"][b] for a, b in zip(ks, ks[1:])))
    names_dip = " dips at K" in m["k_story"]
    blames_heads = "the dip comes from the heads" in m["k_story"]
    return names_dip == dipped and (not names_dip or blames_heads == sp_steady)


def _full_flat(m: dict) -> bool:
    full = [(r["auroc"], r["auroc_std"]) for r in m["table"]["elpv"] if r["score"] == "full"]
    flat = within_spread(min(full), max(full))
    return ("full score stays within the spread" in m["k_story"]) == flat == m["full_flat"]


def _summary_ablation(m: dict) -> bool:
    """The summary's ablation sentence, against the table: s_p above the full score for every K,
    and s_i and s_a called weaker than s_p at the largest K exactly when they are."""
    elpv = _elpv(m)
    top = elpv[max(elpv, key=int)]
    weaker = max(top["s_i"], top["s_a"]) < top["s_p"]
    every_k = all(v["full"] < v["s_p"] for v in elpv.values())
    text = m["summary_ablation"]
    return (("beats the full score for every K" in text) == every_k
            and ("both weaker than $s_p$" in text) == (every_k and weaker))


FINDINGS: list[Finding] = [
    Finding("index", "the sentence counts the normal cells the defective query outscores, and says it "
            "outscores every one exactly when it does",
            lambda m: m["one_query"]["n_above"] == sum(s < m["one_query"]["defect_score"]
                                                       for s in m["one_query"]["normal_scores"])
            and ("above every one" in m["one_query"]["sentence"])
            == (m["one_query"]["n_above"] == len(m["one_query"]["normal_scores"]))),
    Finding("01_in_context_learning", "the absolute detector works on context A and fails on B; the "
            "in-context residual works on both", _toy),
    Finding("01_in_context_learning", "normal solar cells are farther from fabric prompts than from "
            "solar-cell prompts, in every draw", _farther_from_fabric),
    Finding("01_in_context_learning", "a threshold that flags no normal cell against ELPV prompts flags "
            "most of them against fabric prompts",
            lambda m: m["n_normal_flagged_textures"] > m["n_normal"] / 2),
    Finding("01_in_context_learning", "the sentence on the AUROC gap between the contexts (within the "
            "spread of the draws, or beyond it) matches the numbers",
            lambda m: m["auroc_within_spread"] == within_spread(m["contexts"]["ELPV"]["auroc_sp"],
                                                                m["contexts"]["textures"]["auroc_sp"])),
    Finding("02_patch_residuals", "s_p alone separates defective from normal cells",
            lambda m: m["auroc_sp"] > 0.6),
    Finding("02_patch_residuals", "the sentence on corners (prompts with mono cells, or without; normal mono "
            "cells peaking in a corner more often than poly ones, or not) matches the numbers", _corners),
    Finding("03_image_residuals", "the model's image score is eta(F_x) computed by hand",
            lambda m: m["si_max_abs_diff"] < 1e-5),
    Finding("03_image_residuals", "the sentence on which residual sizes alone tell the classes apart "
            "(AUROC at least 0.05 from chance) matches the AUROCs", _residual_verdict),
    Finding("03_image_residuals", "the residual said to rank more defective cells higher among the normal "
            "ones is the one that does", _complement_leader),
    Finding("03_image_residuals", "the sum of the two ranks is called above or below s_p alone as its "
            "AUROC is",
            lambda m: ("above" in m["complement"]["story"])
            == (m["complement"]["auroc_sum_of_ranks"] > m["complement"]["auroc_s_p"])),
    Finding("03_image_residuals", "the trained s_i is said to score below the raw residual exactly when its "
            "AUROC is lower",
            lambda m: not m["heads_trained"] or (("below the raw residual" in m["si_story"])
                                                 == (m["auroc"]["s_i"] < m["auroc"]["raw_residual_norm"]))),
    Finding("03_image_residuals", "the page is made with the trained heads of chapter 5's run",
            lambda m: m["heads_trained"] and m["checkpoint"].endswith("last.pt")),
    Finding("04_text_priors", "Eq. 6 recomputed reproduces the model's text score",
            lambda m: m["sa_max_abs_diff"] < 1e-4),
    Finding("04_text_priors", "the temperature reorders no cell: the AUROC of s_a at tau = 1, 10 and 100 "
            "differs by rounding only",
            lambda m: max(m["auroc_by_tau"].values()) - min(m["auroc_by_tau"].values()) < 0.005),
    Finding("04_text_priors", "the sentence on whether s_a separates ELPV's cells (with either name) matches "
            "the AUROCs", _sa_verdict),
    Finding("05_training", "the training loss falls for every K", _loss_falls),
    Finding("05_training", "the holistic head is said to follow the level of its map more than the peaks "
            "exactly when its rank correlation with the level exceeds that with s_p",
            lambda m: m["phi"]["reads_level"] == (m["phi"]["rho_level"] > m["phi"]["rho_sp"])
            and ("more than where its peaks are" in m["phi"]["sentence"]) == m["phi"]["reads_level"]),
    Finding("05_training", "in the official focal form a perfect normal score z = 0 costs exactly what the "
            "worst anomalous score z = 0 costs, and a perfect anomalous score still costs more than 0",
            _focal_floor),
    Finding("05_training", "the run note says the models were loaded exactly when they were, and that "
            "encoding the auxiliary set took longer than training all models exactly when it did",
            _encode_longer),
    Finding("06_benchmark", "the ablation's headline (full score below s_p for every K, for none, or for "
            "some) matches the table", _ablation_headline),
    Finding("06_benchmark", "the summary says s_p beats the full score for every K exactly when it does, "
            "and calls s_i and s_a both weaker than s_p at the largest K only when they are",
            _summary_ablation),
    Finding("06_benchmark", "the full score is said to stay within the spread of the draws over K exactly "
            "when its lowest and highest K are within each other's spread",
            _full_flat),
    Finding("06_benchmark", "the effect-of-K sentences name a dip of a trained score exactly when one K is "
            "below both neighbours, and blame the heads only when s_p is steady over K", _k_story),
    Finding("06_benchmark", "the ROC section says the single draw reverses the table's order of full and "
            "s_p exactly when it does",
            lambda m: ("reverse" in m["roc_story"]) != m["roc_same_order"]),
    Finding("07_your_own_images", "the command line scores every query exactly as the API does",
            lambda m: m["cli"]["max_abs_score_diff"] < 1e-5),
    Finding("07_your_own_images", "the command line's automatic threshold equals the API's threshold "
            "from the held-out normal images",
            lambda m: abs(m["cli"]["threshold"] - m["thresholds"]["normal"]) < 1e-6),
    Finding("07_your_own_images", "the F1-optimal threshold is called close to flagging everything "
            "exactly when it flags at least three quarters of the images", _f1_near_all),
    Finding("07_your_own_images", "recall is called low exactly when the threshold from normal images "
            "catches fewer than half of the defective images",
            lambda m: m["low_recall"] == (list(m["decisions"].values())[0]["recall"] < 0.5)
            == ("fewer than half" in m["recall_verdict"])),
    Finding("07_your_own_images", "a lower quantile is said to buy recall only with as many false alarms "
            "exactly when the lowest one's precision is within 0.1 of the share of defects",
            lambda m: m["quantile_no_free_recall"]
            == (list(m["quantiles"].values())[-1]["precision"] <= m["prevalence"] + 0.1)),
    Finding("07_your_own_images", "each lower percentile catches at least as many defects and raises at "
            "least as many false alarms", _quantiles_trade),
    Finding("08_speed", "batching changes no score beyond rounding",
            lambda m: m["batch_invariance_max_abs_diff"] < 1e-5),
    Finding("08_speed", "the batching sentence gives the largest gain of a GPU and of a CPU as the files "
            "show, and says a GPU needs large batches exactly when every GPU gains more than every CPU",
            _batching_gains),
    Finding("08_speed", "the tiny profile keeps a smaller share of its encoder's throughput (arithmetic "
            "ratio at K = 8) than the paper backbone",
            lambda m: m["arithmetic"]["tiny"]["ratio_k8"] < m["arithmetic"]["paper"]["ratio_k8"]),
    Finding("08_speed", "the fastest way with one prompt bank scores a query faster than the "
            "official-style loop",
            lambda m: m["live_speedup_total"] > 1),
]


# ------------------------------------------------------------------ appendix: the offline backbone
def _tap_rule(m: dict) -> bool:
    """The tap sentence: the rule's verdict recomputed from the table, and the stages kept."""
    from .mini_study import tap_choice

    t = m["taps"]
    choice = tap_choice(t["rows"], t["shipped"])
    kept = "keeps three stages" in t["sentence"]  # the tie rule keeps the probe's three
    named = kept or choice["best"] in t["sentence"]
    return choice == t["choice"] and kept == (not choice["replace"]) and named


def _prefers_v3(m: dict) -> bool:
    full = m["validation_full"]
    prefers = all(full["v3"][k] > max(full["v1"][k], full["v2"][k]) for k in full["v3"])
    return m["choice"]["prefers_v3"] == prefers and m["choice"]["sentence"].startswith(
        "Validation prefers v3" if prefers else "Validation does not prefer v3")


def _limits(m: dict) -> bool:
    lim, text = m["limits"], m["limits"]["sentence"]
    n_below = sum(lim["full_k4"][t] < lim["s_p_k4"][t] for t in lim["full_k4"])
    side = "below" if lim["elpv_full_k4"] < lim["paper_k4"] else "above"
    opening = {2: "On both targets", 1: "On one target", 0: "On neither target"}[n_below]
    return f"{abs(lim['paper_k4'] - lim['elpv_full_k4']):.3f} {side} the paper's" in text and opening in text


FINDINGS += [
    Finding("09_offline_backbone", "the tap sentence keeps the three stages exactly when no set beats "
            "them by more than the spread over draws", _tap_rule),
    Finding("09_offline_backbone", "validation is said to prefer v3 exactly when its full score beats "
            "v1's and v2's at every K", _prefers_v3),
    Finding("09_offline_backbone", "the limits sentence puts v3 below or above the paper on ELPV as it is, "
            "and counts the targets where the fused score stays below s_p", _limits),
]


def check_chapter(chapter: str, metrics: dict) -> list[str]:
    """The statements of ``chapter`` that its ``metrics`` contradict.

    Args:
        chapter: the notebook's file stem.
        metrics: the chapter's ``metrics.json``, loaded.

    Returns:
        The contradicted statements; empty when every finding holds.
    """
    return [f.statement for f in FINDINGS if f.chapter == chapter and not f.holds(metrics)]
