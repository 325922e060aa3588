"""The paper's three analyses of what makes InCTRL work, reproduced offline (chapter 6b).

1. **Components**: one model per non-empty combination of the text prior T, the patch
   residuals P and the image residual I (:mod:`inctrl.ablation`), each *trained* with only
   those signals.
2. **Feature constructions**: the image head eta trained on the in-context residual, on the
   concatenation or on the average of the adapted query and the prototype.
3. **Normal classes**: on the 8 x 8 digits, n = 1, 2, 3, 5 digits together are normal.

Every model is trained exactly as the package trains (:func:`inctrl.train.train_with_config`:
the world-drawn auxiliary set of chapters 5 and 6, its cached features and pair table), once
per head seed, and scored on ELPV, the digits and the held-out world families with several
prompt draws. The backbone is frozen, so every image is encoded once (feature cache) and the
patch distances of Eq. 1 are computed once per prompt draw; every model is then scored from
them. The whole run takes longer than a chapter may, so ``python -m inctrl.book.analyses``
writes its results to a JSON file (committed as ``inctrl/book/results/analyses.json``) that
the chapter reads; :func:`run_analyses` with fewer targets, draws and seeds is the reduced
rerun of the tests.
"""

from __future__ import annotations

import argparse
import hashlib
import platform
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from .. import __version__, atomic
from ..ablation import ALL_COMPONENTS, combinations
from ..backbone import MINI_WEIGHTS_FILE
from ..checkpoint import load
from ..data.converters.digits import category_name, convert_digits, digits_plan, read_digits
from ..data.fewshot import PromptSet
from ..data.layout import CanonicalDataset
from ..evaluate import image_metrics
from ..features import encode_paths
from ..prompts import prompt_ensemble
from ..train import PairTable, auxiliary_samples, train_with_config
from ..train_config import TrainConfig
from .offline_experiment import prepare_offline_data, prepare_world, protocol_features

__all__ = ["DEFAULT_RESULTS", "DIGIT_SETS", "SCORES", "TARGETS", "VARIANTS", "Episode", "backbone_sha256",
           "run_analyses", "summary"]

#: Where the command writes by default: the results the chapter reads.
DEFAULT_RESULTS = Path(__file__).with_name("results") / "analyses.json"
#: Model variant -> (components, image feature): the 7 combinations, then the two constructions.
VARIANTS = {**{c: (c, "residual") for c in combinations()},
            "concatenation": (ALL_COMPONENTS, "concatenation"), "average": (ALL_COMPONENTS, "average")}
#: The scores measured for every model: its final score and each signal alone.
SCORES = {"full": "score", "s_p": "patch_score", "s_i": "image_score", "s_a": "text_score"}
#: The evaluation groups: the three targets (the digits one-vs-all is ``digits_n1``).
TARGETS = ("elpv", "digits_n1", "world")
#: n -> the normal sets of the digits: cyclic runs of n digits, starting at 0, 3 and 6 for
#: n > 1 and at every digit for n = 1 (the ten one-vs-all categories).
DIGIT_SETS = {n: [[(start + i) % 10 for i in range(n)]
                  for start in (range(10) if n == 1 else (0, 3, 6))] for n in (1, 2, 3, 5)}
#: Anomalous test images per other digit (seeded): Eq. 1 of every query is the costly part.
DIGIT_ANOMALIES = 10


@dataclass
class Episode:
    """One category with one prompt draw: what every model is scored on.

    Attributes:
        group: the evaluation group (``"elpv"``, ``"world"``, ``"digits_n2"`` ...).
        category: the category.
        draw: the seed of the prompt draw.
        labels: [Q] 1 for anomalous queries.
        query_embedding: [Q, E] g(x) of the queries.
        prompt_embeddings: [K, E] g(p_k) of the prompts.
        text: [2, E] t_n and t_a of the category.
        layer_maps: [Q, L, N] Eq. 1 of every query against the prompts.
    """

    group: str
    category: str
    draw: int
    labels: np.ndarray
    query_embedding: torch.Tensor
    prompt_embeddings: torch.Tensor
    text: torch.Tensor
    layer_maps: torch.Tensor


def backbone_sha256(path: Path = MINI_WEIGHTS_FILE) -> str:
    """The SHA-256 of the shipped mini backbone's weights file (what the results depend on)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _semantic_text(encoder, name: str) -> torch.Tensor:
    """t_n and t_a of a semantic name, from the one-sentence form :mod:`inctrl.prompts` uses for
    CIFAR-10 classes, with ``name`` in place of the class (the digits are not in its list)."""
    states = []
    for sentences in prompt_ensemble("animal"):
        sentences = [s.replace("animal", name) for s in sentences]
        with torch.no_grad():
            emb = F.normalize(encoder.backbone.encode_text(sentences).float(), dim=-1)
        states.append(F.normalize(emb.mean(dim=0), dim=-1))
    return torch.stack(states)


def _episode(encoder, group, category, draw, feats, queries, labels, prompts, text=None) -> Episode:
    """An episode from cached features: Eq. 1 once, through the package's scoring."""
    bank = encoder.prompt_bank_from_features(feats.select(prompts), category)
    if text is not None:
        bank = replace(bank, text=text)
    query = feats.select(queries)
    maps = encoder.score_features(query, bank).layer_maps
    return Episode(group, category, int(draw), np.asarray(labels), query.embedding.float(),
                   bank.embeddings, bank.text, maps.flatten(2))


def canonical_episodes(encoder, root: Path, group: str, shots: int, draws: Sequence[int], cache_dir) -> list:
    """The episodes of a canonical dataset: every category, one prompt draw per seed."""
    dataset = CanonicalDataset(root, name=group)
    feats = protocol_features(encoder, dataset, (shots,), draws, cache_dir=cache_dir)
    episodes = []
    for cat in dataset.categories:
        tests = dataset.test_samples(cat)
        for draw in draws:
            prompts = PromptSet.draw(dataset, cat, shots, int(draw)).resolve(dataset.root)
            episodes.append(_episode(encoder, group, cat, draw, feats, [s.path for s in tests],
                                     [s.label for s in tests], prompts))
    return episodes


def digits_episodes(encoder, root: Path, n_values: Sequence[int], shots: int, draws: Sequence[int],
                    cache_dir) -> list:
    """The digits episodes: per n, every normal set of :data:`DIGIT_SETS`, one draw per seed.

    Each image is encoded once, from the ``digit_0`` category of the converted layout (which
    holds all 1,797 under their index); prompts are drawn from a set's train split by the rule
    of :meth:`~inctrl.data.fewshot.PromptSet.draw` (sorted pool, ``default_rng(seed)``).
    """
    _, labels = read_digits(None)
    files = sorted((Path(root) / "digit_0").rglob("*.png"))
    feats = encode_paths(encoder, files, cache_dir=cache_dir)
    by_index = {int(p.stem): p for p in files}
    episodes = []
    for n in n_values:
        for normal in DIGIT_SETS[n]:
            plan = digits_plan(labels, normal, DIGIT_ANOMALIES)
            pool = sorted(i for split, i, _ in plan if split == "train")
            tests = [(i, int(defect != "good")) for split, i, defect in plan if split == "test"]
            name = category_name(normal)
            text = _semantic_text(encoder, name.replace("_", " "))
            for draw in draws:
                chosen = np.random.default_rng(int(draw)).permutation(len(pool))[:shots]
                episodes.append(_episode(encoder, f"digits_n{n}", name, draw, feats,
                                         [by_index[i] for i, _ in tests], [y for _, y in tests],
                                         [by_index[pool[j]] for j in chosen], text))
    return episodes


def _digit_ns(targets, n_values) -> list[int]:
    return sorted({*n_values, *([1] if "digits_n1" in targets else [])})


def _episodes(encoder, data_dir: Path, elpv: Path, file: Path, targets, n_values, shots, draws, cache,
              progress) -> list[Episode]:
    """Every episode of the targets, computed once and kept in ``file`` (keyed by the settings)."""
    key = {"targets": list(targets), "n_values": list(n_values), "shots": int(shots), "draws": list(draws),
           "digit_sets": DIGIT_SETS, "digit_anomalies": DIGIT_ANOMALIES,
           "backbone": encoder.backbone.state_fingerprint()}
    if file.is_file():
        try:  # tensors and plain containers only
            stored = torch.load(file, weights_only=True)
        except Exception:  # damaged, or not written by this code: computed again
            stored = {"key": None}
        if stored["key"] == key:
            return [Episode(**{**e, "labels": e["labels"].numpy()}) for e in stored["episodes"]]
    episodes = []
    if "elpv" in targets:
        episodes += canonical_episodes(encoder, elpv, "elpv", shots, draws, cache)
    if "world" in targets:
        world = prepare_world(data_dir, progress)
        episodes += canonical_episodes(encoder, world, "world", shots, draws, cache)
    n_digits = _digit_ns(targets, n_values)
    if n_digits:
        digits = data_dir / "digits"
        if not digits.exists():
            convert_digits(None, digits, show_progress=progress)
        episodes += digits_episodes(encoder, digits, n_digits, shots, draws, cache)
    atomic.torch_save({"key": key, "episodes": [{**vars(e), "labels": torch.as_tensor(e.labels)}
                                                for e in episodes]}, file)
    return episodes


@torch.no_grad()
def score_episode(model, ep: Episode) -> dict[str, float]:
    """AUROC of every score of :data:`SCORES` for one model on one episode."""
    q = len(ep.labels)
    out = model.eval().forward_episodes(ep.query_embedding, ep.prompt_embeddings.expand(q, -1, -1),
                                        ep.text.expand(q, -1, -1), layer_maps=ep.layer_maps)
    return {name: image_metrics(ep.labels, getattr(out, attr).numpy())["auroc"]
            for name, attr in SCORES.items()}


def train_variants(aux_root: Path, encoder, variants: Sequence[str], head_seeds: Sequence[int],
                   work_dir: Path, shots: int, epochs: int, steps: int, cache_dir, progress: bool,
                   weights: str | None = None):
    """(variant, head seed) -> the model trained as the package trains, on shared cached features."""
    samples = auxiliary_samples([aux_root])
    aux = encode_paths(encoder, [s.path for s in samples], cache_dir=cache_dir)
    table = None  # built for the first run that is not already in work_dir
    models = {}
    for variant in variants:
        components, feature = VARIANTS[variant]
        for seed in head_seeds:
            config = TrainConfig([str(aux_root)], shots=shots, epochs=epochs, steps_per_epoch=steps,
                                 profile="mini", weights=weights, seed=int(seed), components=components,
                                 image_feature=feature)
            out = work_dir / f"{variant}-seed{seed}"
            if table is None and not (out / "last.pt").is_file():
                table = PairTable.build(samples, aux.rows([s.path for s in samples]), aux.features.tokens)
            # resume: a finished run in work_dir is read back, not trained again
            result = train_with_config(config, out, device="cpu",
                                       progress=progress, features=aux, pair_table=table, resume=True)
            models[variant, int(seed)] = result.model
    return models


def run_analyses(data_dir, work_dir=None, *, targets: Sequence[str] = TARGETS, n_values=(1, 2, 3, 5),
                 variants: Sequence[str] = tuple(VARIANTS), draws: Sequence[int] = (0, 1, 2),
                 head_seeds: Sequence[int] = (10, 11, 12), shots: int = 4, epochs: int = 10,
                 steps_per_epoch: int = 100, progress: bool = False, phase: str = "all",
                 weights=None) -> dict | None:
    """Train every variant with every head seed and score it on every episode.

    Args:
        data_dir: the book's data folder (ELPV, the auxiliary set, the world and the digits
            are prepared there when missing).
        work_dir: training runs and the feature cache; None for a temporary folder.
        targets: evaluation groups among :data:`TARGETS` (the digits' n = 1 is ``digits_n1``).
        n_values: the numbers of normal digits of the third analysis (empty to skip it).
        variants: keys of :data:`VARIANTS`.
        draws: the prompt-draw seeds.
        head_seeds: the training seeds (initial heads and sampler).
        shots: K, in training and evaluation.
        epochs: training epochs per model.
        steps_per_epoch: optimizer steps per epoch.
        progress: show progress bars.
        phase: ``"all"``; or ``"episodes"`` / ``"train"`` to do only that part into
            ``work_dir`` (two processes), after which ``"all"`` reads both back.
        weights: a LiT text-tower file of the mini profile (None: the shipped one); its SHA-256 is
            recorded in the config.

    Returns:
        None for a single phase, else ``{"config", "seconds", "rows"}``: one row per (group,
        variant, head seed, draw) with the AUROC of each score of :data:`SCORES`, averaged
        over the group's categories.
    """
    if work_dir is None:
        with tempfile.TemporaryDirectory() as tmp:
            return run_analyses(data_dir, tmp, targets=targets, n_values=n_values, variants=variants,
                                draws=draws, head_seeds=head_seeds, shots=shots, epochs=epochs,
                                steps_per_epoch=steps_per_epoch, progress=progress, phase=phase,
                                weights=weights)
    data_dir, work_dir = Path(data_dir), Path(work_dir)
    cache = work_dir / "feature-cache"
    seconds, t0 = {}, time.perf_counter()
    weights = str(weights) if weights is not None else None
    encoder = load("mini", weights=weights, device="cpu")
    elpv, aux = prepare_offline_data(data_dir, 40, 20, progress)  # chapters 5 and 6's data
    if phase != "train":
        episodes = _episodes(encoder, data_dir, elpv, work_dir / "episodes.pt", targets, n_values, shots,
                             draws, cache, progress)
    seconds["encode_and_eq1"] = time.perf_counter() - t0
    if phase == "episodes":
        return None

    t = time.perf_counter()
    models = train_variants(aux, encoder, variants, head_seeds, work_dir / "runs", shots, epochs,
                            steps_per_epoch, cache, progress, weights)
    seconds["train"] = time.perf_counter() - t
    if phase == "train":
        return None

    t, threads = time.perf_counter(), torch.get_num_threads()
    torch.set_num_threads(1)  # thousands of tiny forward passes: syncing threads costs more than it saves
    try:
        per_category = [{"group": ep.group, "category": ep.category, "draw": ep.draw, "variant": v,
                         "seed": s, **score_episode(model, ep)}
                        for (v, s), model in models.items() for ep in episodes]
    finally:
        torch.set_num_threads(threads)
    keys = ["group", "variant", "seed", "draw"]
    rows = pd.DataFrame(per_category).groupby(keys, sort=False)[list(SCORES)].mean().reset_index()
    seconds["score"] = time.perf_counter() - t
    seconds["total"] = time.perf_counter() - t0
    config = {"profile": "mini", "shots": int(shots), "draws": [int(d) for d in draws],
              "head_seeds": [int(s) for s in head_seeds], "epochs": int(epochs),
              "steps_per_epoch": int(steps_per_epoch), "variants": list(variants),
              "targets": list(targets), "n_values": [int(n) for n in n_values],
              "digit_sets": {str(n): DIGIT_SETS[n] for n in _digit_ns(targets, n_values)},
              "digit_anomalies_per_class": DIGIT_ANOMALIES, "aux": aux.name,
              "backbone_sha256": backbone_sha256(weights or MINI_WEIGHTS_FILE),
              "backbone_fingerprint": encoder.backbone.state_fingerprint()}
    return {"config": config, "seconds": {k: round(v, 1) for k, v in seconds.items()},
            "rows": rows.to_dict(orient="records")}


def summary(rows, by: Sequence[str] = ("group", "variant")) -> pd.DataFrame:
    """Mean and std (ddof=0) of every score over head seeds and prompt draws.

    Args:
        rows: the ``rows`` of a result (or a DataFrame of them).
        by: the grouping columns.

    Returns:
        One row per group: ``by``, then per score its mean and ``<score>_std``.
    """
    frame = pd.DataFrame(rows)
    grouped = frame.groupby(list(by), sort=False)[list(SCORES)]
    return pd.concat([grouped.mean(), grouped.std(ddof=0).add_suffix("_std")], axis=1).reset_index()


def versions() -> dict[str, str]:
    """The versions the results were computed with."""
    import open_clip
    import sklearn

    return {"inctrl": __version__, "python": platform.python_version(), "torch": torch.__version__,
            "open_clip": open_clip.__version__, "numpy": np.__version__, "scikit-learn": sklearn.__version__}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m inctrl.book.analyses``: run every analysis and write the results JSON."""
    parser = argparse.ArgumentParser(prog="python -m inctrl.book.analyses",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_RESULTS, help="the results JSON to write")
    parser.add_argument("--data-dir", type=Path, default=Path("data"), help="the book's data folder")
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="training runs and feature cache (default: a temporary folder)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--weights", type=Path, default=None,
                        help="a LiT text tower for the mini profile (default: the shipped one)")
    parser.add_argument("--phase", choices=("all", "episodes", "train"), default="all",
                        help="only the episodes or only the training (two processes sharing --work-dir)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    result = run_analyses(args.data_dir, args.work_dir, progress=True, phase=args.phase, weights=args.weights)
    if result is None:
        return 0
    result = {"command": "python -m inctrl.book.analyses " + " ".join(sys.argv[1:] if argv is None else argv),
              "versions": versions(), **result}
    atomic.write_json(args.out, result)
    print(f"wrote {args.out} ({result['seconds']['total']:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
