"""Chapter 9's findings about the pretraining recipes: predicates on its ``metrics.json``.

Each returns True when the page's sentences say what its numbers show; :mod:`.findings`
registers them.
"""

from __future__ import annotations

from ..data.world_defects import GLOBAL_KINDS


def by_kind(m: dict) -> bool:
    """The per-kind counts, recounted from the table, and the sentence's verdict."""
    # the table names kinds with spaces
    k, global_kinds = m["by_kind"], {kind.replace("_", " ") for kind in GLOBAL_KINDS}
    global_rows = [r for name, r in k["table"].items() if name in global_kinds]
    local_rows = [r for name, r in k["table"].items() if name not in global_kinds]
    si_wins = sum(r["s_i"] > r["s_p"] for r in global_rows)
    sp_wins = sum(r["s_p"] > r["s_i"] for r in local_rows)
    return (si_wins == k["si_wins_global"] and sp_wins == k["sp_wins_local"]
            and f"on {sp_wins} of {len(local_rows)}" in k["sentence"]
            and ("holds on this backbone too" in k["sentence"]) == (si_wins == len(global_rows))
            and ("catches even the global defects better" in k["sentence"]) == (si_wins == 0))


def pixel_reference(m: dict) -> bool:
    """The pixels sentence: its maximum, its kind, the global-kind means and their comparison."""
    k, global_kinds = m["by_kind"], {kind.replace("_", " ") for kind in GLOBAL_KINDS}
    table, sentence = k["table"], k["pixel_sentence"]
    best = max(table, key=lambda name: table[name]["pixels"])
    pixels = sum(table[n]["pixels"] for n in global_kinds) / len(global_kinds)
    s_i = sum(table[n]["s_i"] for n in global_kinds) / len(global_kinds)
    relation = ("at their level" if abs(s_i - pixels) <= 0.05
                else "above them" if s_i > pixels else "below them")
    return (f"at most {table[best]['pixels']:.3f} ({best})" in sentence
            and f"{pixels:.3f} on average over the global kinds, where $s_i$ reaches {s_i:.3f}: {relation}."
            in sentence
            and ("move the whole photo little" in sentence) == (table[best]["pixels"] < 0.75))


def recipe_sentences(m: dict) -> bool:
    """The recipe verdict names the in-world choice; the image and patch sentences match their moves."""
    r, shipped = m["recipes"], "v1"
    rows = {b: row for b, row in r["summary"].items() if "full" in row}
    chosen = max(rows, key=lambda b: rows[b]["full"])
    best_image = max((b for b in rows if b != shipped), key=lambda b: rows[b]["image residual"])
    image_up = rows[best_image]["image residual"] > rows[shipped]["image residual"]
    patch_down = rows[best_image]["patch residual"] < rows[shipped]["patch residual"]
    return (r["chosen"] == chosen and r["best_image"] == best_image
            and r["verdict"].startswith("In-world validation keeps") == (chosen == shipped)
            and ("(up)" in r["why"]) == image_up and ("falls from" in r["why"]) == patch_down
            and ("still ends higher" in r["why"])
            == (patch_down and rows[best_image]["full"] >= rows[shipped]["full"])
            and ("does not transfer" in r["look_sentence"]) == all(r["look_worse"].values())
            and ("carries over to both" in r["look_sentence"]) == (not any(r["look_worse"].values())))


def family_out_sentences(m: dict) -> bool:
    """The stricter split's sentences: its choice, the earlier choice's rank, and the second look."""
    f, shipped = m["family_out"], "v1"
    rows = {b: row for b, row in f["summary"].items() if "full" in row}
    chosen = max(rows, key=lambda b: rows[b]["full"])
    twin_below = rows[f["twin"]]["full"] < rows[shipped]["full"]
    full = {t: [v for key, v in f["look_deltas"].items() if key.startswith(f"{t}|full|")]
            for t in f["look_full_up"]}
    up = {t: sum(v > 0 for v in values) for t, values in full.items()}
    said = {"held-out world": "K on the held-out families", "ELPV": "on ELPV"}
    counts = [f"at {up[t]} of {len(full[t])} {said[t]}" for t in up]
    return (f["chosen"] == chosen
            and f["verdict"].startswith("The stricter split keeps") == (chosen == shipped)
            and ("ranks it below v1" in f["twin_sentence"]) == twin_below
            and up == f["look_full_up"]
            and all(c in f[s] for c in counts for s in ("look_sentence", "summary_sentence"))
            and ("makes the choice again" in f["decision"]) == any(up[t] < len(full[t]) for t in up))


def gpu_sentences(m: dict) -> bool:
    """The GPU arms' sentence: whether they pass the choice, and the moves it names, as the table shows."""
    f, shipped = m["family_out"], "v1"
    rows, runs, said = f["summary"], f["gpu_runs"], f["gpu_sentence"]
    beaten = [n for n in runs if rows[n]["full"] < rows[f["chosen"]]["full"]]
    checks = [sorted(beaten) == sorted(f["gpu_beaten"]),
              ("Neither passes" in said) == (bool(runs) and len(beaten) == len(runs))]
    long_arm, scratch = "+image, last block, long", "v2 from scratch"
    if long_arm in runs and f["chosen"] == "+image, last block":
        checks.append(("do not raise $s_i$" in said) == (rows[long_arm]["s_i"] <= rows[f["chosen"]]["s_i"]))
    if scratch in runs:
        checks.append(("a weaker $s_p$" in said) == (rows[scratch]["s_p"] < rows[shipped]["s_p"]))
        below_raw = rows[scratch]["real textures s_p"] < rows["raw patches"]["real textures s_p"]
        checks.append(("falls below raw-pixel patches" in said) == below_raw)
    return all(checks)


def heads_world_sentences(m: dict) -> bool:
    """The world-drawn auxiliary set's sentences: validation's choice, the look's counts and the heads'
    spread over seeds, as measured."""
    h = m["heads_world"]
    validation = h["validation"]
    chosen = validation["world-drawn (the book's)"]["full"] > validation["synthetic (first edition)"]["full"]
    where = {"ELPV": "on ELPV", "held-out world": "on the held-out families"}
    up = {t: sum(h["full"][t][k] > h["first_full"][t][k] for k in h["full"][t]) for t in h["full"]}
    reach = {t: sum(h["full"][t][k] >= h["s_p"][t][k] for k in h["full"][t]) for t in h["full"]}
    counts = [f"at {up[t]} of {len(h['full'][t])} K {where[t]}" for t in up]
    reach_said = f"reaches $s_p$ at {reach['ELPV']} of {len(h['full']['ELPV'])} K on ELPV"
    seeds = h["seeds"]
    seeds_reach = sum(seeds["full"][k] >= seeds["s_p"][k] for k in seeds["full"])
    seeds_said = (f"spread is at most {max(seeds['spread'].values()):.3f}" in seeds["sentence"]
                  and f"reaches $s_p$ at {seeds_reach} of {len(seeds['full'])} K" in seeds["sentence"])
    return (("validation chooses it" in h["sentence"]) == chosen
            and up == h["up"] and reach == h["reach_sp"]
            and all(c in h[s] for c in counts for s in ("look_sentence", "summary_sentence"))
            and reach_said in h["look_sentence"] and seeds_said)


def v2_sentences(m: dict) -> bool:
    """The final choice, made again with the book's heads: the rule's pick, and the marks v2 misses."""
    v = m["v2"]
    chosen = max(v["validation"], key=lambda b: v["validation"][b]["full"])
    short = {what: mark for what, mark in v["marks"].items()
             if (max(mark["v2"]) > -mark["bar"] if mark["bar"] < 0 else min(mark["v2"]) < mark["bar"])}
    met = len(v["marks"]) - len(short)
    return (v["choice"] == chosen
            and ("The rule chooses" in v["sentence"]) == (chosen == "+image, last block")
            and sorted(short) == sorted(v["short"])
            and f"meets {met} of these {len(v['marks'])} marks" in v["look_sentence"]
            and all(f"\u201c{what}\u201d by" in v["look_sentence"] for what in short)
            and ("v2 is worse at every K" in v["look_sentence"])
            == all(d < 0 for d in v["look_moves"]["ELPV"].values()))


def heads_training_sentences(m: dict) -> bool:
    """Five other ways to train the heads: the rule's pick, the best other arm, and how many arms
    leave the full score below s_p."""
    h = m["heads_training"]
    arms = h["arms"]
    book = arms["the book's"]
    bar = book["full"] + book["draws spread"]
    others = {a: r["full"] for a, r in arms.items() if a != "the book's"}
    passing = {a: f for a, f in others.items() if f > bar}
    adopted = max(passing, key=passing.get) if passing else None
    below = sum(r["full"] < r["s_p"] for r in arms.values())
    best = max(others, key=others.get)
    return (h["adopted"] == adopted and h["best_other"] == best and h["below_sp"] == below
            and f"\u201c{best}\u201d, reaches {others[best]:.3f}" in h["sentence"]
            and ("no arm passes" in h["sentence"]) == (adopted is None)
            and f"In {below} of the {len(arms)} arms the full score is below $s_p$" in h["sentence"]
            and f"below $s_p$ in {below} of {len(arms)} arms" in h["summary_sentence"])


def fusion_sentences(m: dict) -> bool:
    """What the holistic head reads: phi's own AUROC beside s_p, and 'reads the level' exactly when
    both probes stay within the tolerance of phi on every target."""
    from .fusion import LEVEL_TOLERANCE, PROBES

    f = m["fusion"]
    means = f["means"]
    gap = max(abs(r[p] - r["phi"]) for r in means.values() for p in PROBES)
    level = gap <= LEVEL_TOLERANCE
    below = all(r["full"] < r["s_p"] for r in means.values())
    return (f["reads_level"] == level and abs(f["probe_gap"] - gap) < 1e-12
            and all(f"{r['phi']:.3f} on {t} (against {r['s_p']:.3f}" in f["sentence"]
                    for t, r in means.items())
            and ("reads the level of $M^+$" in f["sentence"]) == level
            and ("reads only the level of its map" in f["summary_sentence"]) == level
            and ("lands below the strong one" in f["sentence"]) == below
            and f"the level of its map is {f['level_rho']:.2f}, with $s_p$ {f['sp_rho']:.2f}" in f["sentence"]
            and f"average {f['map_level']:.3f}" in f["sentence"]
            and f"{f['in_steps']:.0%} of the images" in f["sentence"]
            and ("falls into steps" in f["sentence"]) == (f["in_steps"] >= 0.9))
