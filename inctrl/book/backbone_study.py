"""Where the offline backbone comes from: targets, the ablation and the record of v1.

Two evaluation targets measure whether a backbone transfers: ELPV (the real solar-cell
benchmark) and the *in-world held-out set*, four families of the procedural world that were
used neither to pretrain the backbone nor to train InCTRL's heads, with faint defects
(:func:`prepare_world`, made by the offline experiment's module and re-exported here).
:func:`run_backbone_ablation` trains and evaluates InCTRL on several backbones (random,
each pretraining objective alone, the full recipe) with the protocol of the book's offline
experiment; :func:`write_record` keeps the ablation and the
feature-free baselines (:mod:`inctrl.book.baselines`, what a backbone must beat) beside the
v1 weights (the first mini backbone; the shipped v2 continues them).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import atomic
from ..backbone import MINI_V1_WEIGHTS_FILE
from ..evaluate import mask_in_model_frame
from .offline_experiment import WORLD, prepare_world, run_offline_elpv

__all__ = [
    "ablation_backbones",
    "ablation_table",
    "along_the_run",
    "mask_frame",
    "prepare_world",
    "pretraining_log",
    "pretraining_record",
    "run_backbone_ablation",
    "summarise",
    "write_record",
]

TARGET_NAMES = {"elpv": "ELPV", WORLD: "held-out world"}


def summarise(draws: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Mean and std (ddof=0) over seeds of every numeric column, grouped by ``by``.

    Args:
        draws: one row per draw, with a ``seed`` column.
        by: the grouping columns.

    Returns:
        One row per group: the ``by`` columns, each numeric column's mean, and its std as
        ``<column>_std``.
    """
    cols = [c for c in draws.columns if c not in by + ["seed"] and pd.api.types.is_numeric_dtype(draws[c])]
    g = draws.groupby(by, sort=False)[cols]
    out = g.mean().add_suffix("")
    std = g.std(ddof=0).add_suffix("_std")
    return pd.concat([out, std], axis=1).reset_index()


def run_backbone_ablation(
    data_dir,
    out_dir,
    backbones: dict[str, dict],
    shots=(4,),
    seeds=(0, 1, 2),
    progress: bool = True,
    **experiment,
) -> pd.DataFrame:
    """InCTRL trained and evaluated (ELPV and the held-out world) on each backbone.

    Args:
        data_dir: the folder of the book's data.
        out_dir: the folder of the runs, one subfolder per backbone, and ``ablation.csv``.
        backbones: {label: keyword arguments of
            :func:`inctrl.book.offline_experiment.run_offline_elpv` that pick the backbone},
            e.g. ``{"profile": "mini", "pretrained": False}`` or
            ``{"profile": "mini", "weights": "runs/clip-only/weights.pt"}``.
        shots: the K values.
        seeds: the prompt-draw seeds.
        progress: show progress bars.
        **experiment: further keyword arguments of ``run_offline_elpv``, the same for every
            backbone.

    Returns:
        One row per (backbone, target, k, score) with the AUROC mean and std over the
        draws, plus the pixel AUROC of the patch map on the world (score ``"pixel (M)"``);
        also written to ``out_dir/ablation.csv``.
    """
    out_dir = Path(out_dir)
    rows = []
    for label, choice in backbones.items():
        slug = "".join(c if c.isalnum() else "-" for c in label.lower())
        result = run_offline_elpv(
            data_dir, out_dir / slug, shots=shots, seeds=seeds, progress=progress, **choice, **experiment
        )
        for target, table in (("elpv", result.table), (WORLD, result.world_table)):
            for _, r in table.iterrows():
                rows.append(
                    {
                        "backbone": label,
                        "target": target,
                        "k": int(r["k"]),
                        "score": r["score"],
                        "auroc": r["auroc"],
                        "auroc_std": r["auroc_std"],
                    }
                )
        for _, r in result.world_summary.iterrows():
            rows.append(
                {
                    "backbone": label,
                    "target": WORLD,
                    "k": int(r["k"]),
                    "score": "pixel (M)",
                    "auroc": r["pixel_auroc"],
                    "auroc_std": r["pixel_auroc_std"],
                }
            )
    table = pd.DataFrame(rows)
    atomic.write_text(out_dir / "ablation.csv", table.to_csv(index=False))
    return table


def ablation_backbones(runs="runs", budget: int = 500) -> dict[str, dict]:
    """The ablation's backbones, as written by ``inctrl pretrain`` runs under ``runs``.

    Every pretrained row but the last stops after ``budget`` steps of the same schedule (an
    exact prefix of the full recipe), so the objectives are compared at equal cost.

    Args:
        runs: the folder of the pretraining runs.
        budget: the step of the weights compared (``weights_step<budget>.pt``).

    Returns:
        {label: keyword arguments that pick the backbone}, the ``backbones`` of
        :func:`run_backbone_ablation`.
    """
    runs = Path(runs)
    return {
        "random (no pretraining)": {"profile": "mini", "pretrained": False},
        f"CLIP loss only, {budget} steps": {
            "profile": "mini",
            "weights": str(runs / "ablation-clip" / f"weights_step{budget}.pt"),
        },
        f"defect loss only, {budget} steps": {
            "profile": "mini",
            "weights": str(runs / "ablation-patch" / f"weights_step{budget}.pt"),
        },
        f"both, {budget} steps": {
            "profile": "mini",
            "weights": str(runs / "mini-full" / f"weights_step{budget}.pt"),
        },
        "both, full recipe (v1)": {"profile": "mini", "weights": str(MINI_V1_WEIGHTS_FILE)},
    }


# ------------------------------------------------------------------ the record of v1
RECORD = Path(__file__).resolve().parents[1] / "weights" / "pretraining.json"
LOG = RECORD.with_name("pretrain_log.csv")


def pretraining_record() -> dict:
    """What the v1 mini weights are, as :func:`write_record` wrote it.

    Returns:
        The record: recipe, model, size, SHA-256, wall time, machine, and the ablation and
        baseline rows.
    """
    import json

    return json.loads(RECORD.read_text())


def pretraining_log() -> pd.DataFrame:
    """The per-step log of the run that produced the v1 weights.

    Returns:
        One row per step: step, lr, image size, clip and patch loss, seconds.
    """
    return pd.read_csv(LOG)


def ablation_table() -> pd.DataFrame:
    """The ablation (InCTRL on each backbone) and the feature-free baselines, from the record.

    Returns:
        One row per (target, backbone, score): AUROC at K = 4 averaged over the prompt
        draws; targets by their display names (``"ELPV"``, ``"held-out world"``).
    """
    record = pretraining_record()
    rows = pd.DataFrame(record["ablation"])
    base = pd.DataFrame(record["baselines"])
    base = base.rename(columns={"baseline": "backbone"}).assign(score="feature-free")
    pixel = base.dropna(subset=["pixel_auroc"]).assign(score="pixel (M)", auroc=lambda d: d["pixel_auroc"])
    keep = ["target", "backbone", "score", "auroc"]
    table = pd.concat([rows[keep], base[keep], pixel[keep]], ignore_index=True)
    return table.assign(target=table["target"].map(TARGET_NAMES).fillna(table["target"]))


def along_the_run() -> pd.DataFrame:
    """InCTRL on the v1 run's own intermediate weights, from the record.

    Returns:
        One row per (step, target, score): AUROC at K = 4, mean and std over the prompt
        draws; step 0 is the random initialisation, the last step the v1 weights;
        targets by their display names. Empty when the record holds no such rows.
    """
    rows = pd.DataFrame(pretraining_record().get("along_the_run", []))
    if rows.empty:
        return rows
    return rows.assign(target=rows["target"].map(TARGET_NAMES).fillna(rows["target"]))


def mask_frame(path, size: int = 240) -> np.ndarray:
    """A mask file in the model's input frame, as the evaluation compares it.

    Args:
        path: the mask file.
        size: S, the side of the frame.

    Returns:
        [S, S] bool mask (:func:`inctrl.evaluate.mask_in_model_frame`).
    """
    return mask_in_model_frame(path, size)


def write_record(
    run_dir,
    weights_file,
    ablation: pd.DataFrame,
    baselines: pd.DataFrame,
    machine: str,
    out=RECORD,
    along_the_run: pd.DataFrame | None = None,
) -> dict:
    """Write the provenance of a run's weights (v1's) and copy the run's per-step log beside it.

    Args:
        run_dir: the pretraining run (its ``last.pt`` holds the config and the log).
        weights_file: the exported weights the record describes.
        ablation: rows of :func:`run_backbone_ablation`.
        baselines: rows of :func:`inctrl.book.baselines.feature_free_baselines` with a
            ``target`` column
            (averaged over seeds here).
        machine: a description of the machine that ran the pretraining.
        out: the record's path (default ``inctrl/weights/pretraining.json``); the log goes
            beside it as ``pretrain_log.csv``.
        along_the_run: rows (step, target, k, score, auroc, auroc_std) of
            :func:`run_backbone_ablation` on the run's own intermediate weights, the step
            in a ``step`` column (0: random initialisation).

    Returns:
        The record written.
    """
    import torch

    from ..pretrain import file_sha256

    run_dir, weights_file = Path(run_dir), Path(weights_file)
    state = torch.load(run_dir / "last.pt", map_location="cpu", weights_only=True)
    log = pd.DataFrame(state["log"])
    n_params = sum(v.numel() for v in torch.load(weights_file, weights_only=True).values())
    config = state["config"]
    base = (
        baselines.groupby(["target", "baseline"], sort=False)[["auroc", "pixel_auroc"]].mean().reset_index()
    )
    record = {
        "weights": weights_file.name,
        "sha256": file_sha256(weights_file),
        "weights_mb": weights_file.stat().st_size / 2**20,
        "steps": int(state["step"]),
        "recipe": config,
        "model": f"ViT 6 x 256 (4 heads), text 4 x 128, {n_params / 1e6:.1f} M parameters",
        "wall_minutes": float(log["seconds"].sum() / 60),
        "machine": machine,
        "final_loss": {k: float(log[k].tail(50).mean()) for k in ("clip", "patch") if k in log},
        "ablation": [
            {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in ablation.to_dict(orient="records")
        ],
        "baselines": [
            {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in r.items()}
            for r in base.to_dict(orient="records")
        ],
    }
    if along_the_run is not None:
        record["along_the_run"] = along_the_run.to_dict(orient="records")
    atomic.write_json(out, record)
    atomic.write_text(Path(out).with_name("pretrain_log.csv"), log.to_csv(index=False))
    return record
