"""The paper's other experiments from a user's runs, beside the printed values: TAM placement
(Table 6), ImageNet vs scratch (Table 9), the I3D upgrades (Figure 7), the SOTA table (Table 2) and
transfer learning (Table 4).

Each function takes the finished runs (``collect`` rows, with the run settings ``sampling``,
``pretrained``, ``model_options``, ``init_from``) and returns a long table, one row per (model or
setting, dataset), seeds averaged: ``top1`` (clip level: 1 clip, centre crop, the best validation
epoch), ``video_top1`` (the final test's views) and ``paper_top1`` (printed; None where the paper has
no such row). The paper's full-dataset figures (Tables 2, 9, Figure 7) are video level; its mini-
dataset ones (Table 6) clip level.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from benchmark.analysis.printed import load_printed, model_stem, paper_dataset_name, paper_model_name
from benchmark.engine.tolerant_read import read_config

COLUMNS = ["dataset", "model", "setting", "runs", "top1", "video_top1", "paper_top1"]


def _summarise(rows: pd.DataFrame, setting: pd.Series, paper: dict) -> pd.DataFrame:
    """Seeds averaged per (dataset, model, setting); ``paper`` maps (paper dataset, paper model,
    setting) to the printed top-1."""
    if rows.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = rows.assign(setting=setting.astype(str), dataset=rows["dataset"].astype(str), model=rows["model"].astype(str))
    out = rows.groupby(["dataset", "model", "setting"], sort=False).agg(
        runs=("top1", "size"), top1=("top1", "mean"), video_top1=("video_top1", "mean")).reset_index()
    out["paper_top1"] = [paper.get((paper_dataset_name(d), paper_model_name(m), s))
                         for d, m, s in zip(out["dataset"], out["model"], out["setting"])]
    return out[COLUMNS]


def _option(label, key: str) -> str | None:
    """``key``'s value in a ``collect`` model_options label (``tam_placement=top-half,...``)."""
    for part in str(label or "").split(","):
        name, _, value = part.partition("=")
        if name == key:
            return value
    return None


def placement_table(done: pd.DataFrame) -> pd.DataFrame:
    """Table 6: TAM runs without temporal pooling that set ``tam_placement``, and TAM-ResNet18-f8 (the
    table's "all" row is the mini grid's model); setting = the placement."""
    if done.empty:
        return pd.DataFrame(columns=COLUMNS)
    placement = done["model_options"].map(lambda x: _option(x, "tam_placement")) if "model_options" in done else None
    if placement is None:
        placement = pd.Series(None, index=done.index, dtype=object)
    tam = (done["module"] == "TAM") & ~done["tp"].astype(bool)
    chosen = done[tam & (placement.notna() | (done["model"] == "TAM-ResNet18-f8"))]
    printed = load_printed("table6")
    paper = {(d, "TAM-ResNet18", r.placement): getattr(r, f"{d.replace('-', '_')}_top1")
             for r in printed.itertuples() for d in ("mini-ssv2", "mini-kinetics")}
    return _summarise(chosen, placement[chosen.index].fillna("all"), paper)


def pretraining_table(done: pd.DataFrame) -> pd.DataFrame:
    """Table 9: models trained both from ImageNet weights and from scratch (no weights, no
    ``init_from``: a progressive run is not a scratch run) on the same dataset; setting = imagenet |
    scratch."""
    if done.empty or "pretrained" not in done:
        return pd.DataFrame(columns=COLUMNS)
    init_from = done["init_from"] if "init_from" in done else pd.Series(None, index=done.index)
    setting = pd.Series(None, index=done.index, dtype=object)
    setting[done["pretrained"] == "imagenet"] = "imagenet"
    setting[(done["pretrained"] == "none") & init_from.isna()] = "scratch"
    rows = done[setting.notna()].assign(_setting=setting)
    kinds = rows.groupby(["dataset", "model"])["_setting"].transform("nunique")
    rows = rows[kinds == 2]
    printed = load_printed("table9")
    paper = {("kinetics", r.model, s): getattr(r, f"{s}_top1") for r in printed.itertuples()
             for s in ("imagenet", "scratch")}
    return _summarise(rows, rows["_setting"], paper)


def i3d_upgrades_table(done: pd.DataFrame) -> pd.DataFrame:
    """Figure 7: runs of its four models (any frame count; the paper's are 32; not from scratch), in
    the figure's order."""
    printed = load_printed("figure7")
    order = list(dict.fromkeys(printed["model"]))
    if done.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = done[done["model"].map(model_stem).isin(order)]
    if "pretrained" in rows:  # the figure's models start from ImageNet weights: scratch runs are Table 9's
        rows = rows[rows["pretrained"] != "none"]
    paper = {(r.dataset, r.model, ""): r.top1 for r in printed.itertuples()}
    out = _summarise(rows, pd.Series("", index=rows.index), paper)
    rank = out["model"].map(lambda m: order.index(model_stem(m)))
    return out.assign(_rank=rank).sort_values(["dataset", "_rank"], kind="stable").drop(columns="_rank")


def sota_table(done: pd.DataFrame) -> pd.DataFrame:
    """Table 2: runs of the models it lists, on Kinetics, SSv2 or MiT; setting = the initialisation
    (imagenet | scratch), printed values from the row with the same initialisation."""
    printed = load_printed("table2")
    if done.empty or "pretrained" not in done:
        return pd.DataFrame(columns=COLUMNS)
    names = set(printed["model"])
    rows = done[done["model"].map(paper_model_name).isin(names)
                & done["dataset"].map(lambda d: paper_dataset_name(str(d)) in ("kinetics", "ssv2", "mit"))]
    setting = rows["pretrained"].map(lambda p: "imagenet" if p == "imagenet" else "scratch")
    paper = {}
    for r in printed.itertuples():
        # "None" / "None*" (read as missing by pandas, or as printed): from scratch; "Kinetics": fine-tuned.
        init = {"ImageNet": "imagenet", "Kinetics": None}.get(r.pretrain, "scratch")
        for d in ("kinetics", "ssv2", "mit"):
            value = getattr(r, f"{d}_top1")
            if init and pd.notna(value):
                paper.setdefault((d, r.model, init), value)  # the first printed row of a model wins
    out = _summarise(rows, setting, paper)
    flops = rows.assign(model=rows["model"].astype(str)).groupby("model")["macs_conv"].first()
    out.insert(4, "gflops_224", out["model"].map(lambda m: float(flops[m]) / 1e9 if pd.notna(flops[m]) else None))
    out["paper_gflops"] = out["model"].map(paper_model_name).map(printed.groupby("model")["flops_g"].first())
    return out


def _upstream_dataset(init_from) -> str | None:
    """The dataset of the run ``init_from`` names (its config.yaml), or None when unreadable."""
    if not isinstance(init_from, str) or not Path(init_from).is_dir():
        return None
    config, _ = read_config(init_from)
    data = config.get("dataset") if isinstance(config, dict) else None
    name = data.get("name") or data.get("preset") if isinstance(data, dict) else data
    return name if isinstance(name, str) else None


def transfer_table(done: pd.DataFrame) -> pd.DataFrame:
    """Table 4: runs fine-tuned from a run on another dataset (``init_from``); setting = the source
    dataset, printed values for transfers from Kinetics."""
    if done.empty or "init_from" not in done:
        return pd.DataFrame(columns=COLUMNS)
    source = done["init_from"].map(_upstream_dataset)
    rows = done[source.notna() & (source != done["dataset"])]
    printed = load_printed("table4")
    # The paper fine-tunes its full-Kinetics 32-frame models (Supplement D.3).
    paper = {(r.target, r.model, "kinetics400"): r.top1 for r in printed.itertuples()}
    return _summarise(rows, source[rows.index], paper)
