"""The paper's figures from a tidy results table (Agg backend, colour-blind-safe palette).

Each function writes one PNG and returns its path, or returns None with the reason when the source
lacks what the figure needs (e.g. no MACs recorded, no run with temporal pooling), so a report on a
small source degrades to fewer figures instead of failing.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from benchmark.analysis.phi_psi import _module_order  # noqa: E402

MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*"]
DPI = 110


def _palette(modules) -> dict:
    colours = sns.color_palette("colorblind", n_colors=max(len(modules), 3))
    return dict(zip(modules, colours))


def _modules(df: pd.DataFrame) -> list[str]:
    return sorted(set(df["module"].dropna()), key=_module_order)


def _backbones(df: pd.DataFrame) -> list[str]:
    return sorted(set(df["backbone"].fillna("(own)")))


def model_accuracy(done: pd.DataFrame) -> pd.DataFrame:
    """Top-1/top-5 per model (seeds averaged): the data behind Fig. 4/10."""
    d = done.assign(tp=done["tp"].astype(bool), backbone=done["backbone"].fillna("(own)"))
    out = d.groupby(["dataset", "module", "backbone", "tp", "frames"]).agg(
        top1=("top1", "mean"), top5=("top5", "mean"), seeds=("top1", "size"),
        params=("params", "mean"), macs_conv=("macs_conv", "mean"), macs_all=("macs_all", "mean"),
    ).reset_index()
    return out.sort_values(["dataset", "module", "backbone", "tp", "frames"],
                           key=lambda c: c.map(_module_order) if c.name == "module" else c, ignore_index=True)


def _frames_axis(ax, frames) -> None:
    frames = sorted(set(int(f) for f in frames))
    ax.set_xscale("log", base=2)
    ax.set_xticks(frames)
    ax.set_xticklabels([str(f) for f in frames])
    ax.minorticks_off()
    if len(frames) == 1:
        ax.set_xlim(frames[0] / 1.5, frames[0] * 1.5)


def plot_accuracy_vs_frames(acc: pd.DataFrame, path: Path) -> tuple[Path | None, str | None]:
    """Fig. 4/10: top-1 vs frames; colour = module, marker = backbone; columns without/with tp."""
    if acc.empty:
        return None, "no finished runs"
    datasets = sorted(acc["dataset"].unique())
    tps = sorted(acc["tp"].unique())
    modules, backbones = _modules(acc), _backbones(acc)
    palette = _palette(modules)
    marker = dict(zip(backbones, MARKERS))
    fig, axes = plt.subplots(len(datasets), len(tps), figsize=(5.2 * len(tps), 3.6 * len(datasets)),
                             squeeze=False)
    for i, dataset in enumerate(datasets):
        for j, tp in enumerate(tps):
            ax = axes[i][j]
            sub = acc[(acc["dataset"] == dataset) & (acc["tp"] == tp)]
            for (module, backbone), rows in sub.groupby(["module", "backbone"]):
                rows = rows.sort_values("frames")
                ax.plot(rows["frames"], rows["top1"], marker=marker[backbone], color=palette[module],
                        label=f"{module}-{backbone}", linewidth=1.4, markersize=6)
            _frames_axis(ax, acc["frames"])
            ax.set_title(f"{dataset} — {'with' if tp else 'without'} temporal pooling", fontsize=10)
            ax.set_xlabel("input frames")
            ax.set_ylabel("top-1 accuracy (%)")
            ax.grid(alpha=0.3)
    _legend(fig, palette, marker)
    return save_figure(fig, path), None


def _legend(fig, palette: dict, marker: dict) -> None:
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], color=c, linewidth=2, label=m) for m, c in palette.items()]
    handles += [Line2D([], [], color="0.3", marker=mk, linestyle="none", label=b) for b, mk in marker.items()]
    fig.legend(handles=handles, loc="upper center", ncol=min(len(handles), 8), frameon=False,
               bbox_to_anchor=(0.5, 1.0), title="module (colour) and backbone (marker)")
    fig.tight_layout(rect=(0, 0, 1, 0.93 if len(fig.axes) <= 2 else 0.95))


def tp_gains(acc: pd.DataFrame) -> pd.DataFrame:
    """Top-1 with temporal pooling minus without, per matched model (Fig. 6)."""
    key = ["dataset", "module", "backbone", "frames"]
    with_tp = acc[acc["tp"]].set_index(key)["top1"]
    without = acc[~acc["tp"]].set_index(key)["top1"]
    both = pd.concat({"top1_tp": with_tp, "top1_no_tp": without}, axis=1, join="inner").reset_index()
    both["gain"] = both["top1_tp"] - both["top1_no_tp"]
    return both


def plot_tp_gains(gains: pd.DataFrame, path: Path) -> tuple[Path | None, str | None]:
    """Fig. 6: accuracy gain from temporal pooling, one bar per model and frames."""
    if gains.empty:
        return None, "no model was run both with and without temporal pooling"
    datasets = sorted(gains["dataset"].unique())
    g = gains.assign(model=gains["module"] + "-" + gains["backbone"], frames=gains["frames"].astype(int).astype(str))
    order = sorted(g["model"].unique(), key=lambda m: (_module_order(m.split("-")[0]), m))
    frames = [str(f) for f in sorted(gains["frames"].astype(int).unique())]
    fig, axes = plt.subplots(len(datasets), 1, figsize=(max(6.0, 0.55 * len(order) * max(1, len(frames)) / 2 + 3),
                                                        3.4 * len(datasets)), squeeze=False)
    for ax, dataset in zip(axes[:, 0], datasets):
        sns.barplot(data=g[g["dataset"] == dataset], x="model", y="gain", hue="frames", order=order,
                    hue_order=frames, palette="colorblind", ax=ax)
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_title(f"{dataset}: gain from temporal pooling", fontsize=10)
        ax.set_xlabel("")
        ax.set_ylabel("Δ top-1 (points)")
        ax.tick_params(axis="x", rotation=45)
        ax.legend(title="frames", fontsize=8, title_fontsize=8, ncol=len(frames))
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path), None


def aggregation_table(acc: pd.DataFrame) -> pd.DataFrame:
    """Table 5: top-1 without temporal pooling, rows dataset x frames, columns backbone x module."""
    sub = acc[~acc["tp"]]
    if sub.empty:
        return pd.DataFrame()
    table = sub.pivot_table(index=["dataset", "frames"], columns=["backbone", "module"], values="top1")
    cols = sorted(table.columns, key=lambda c: (c[0], _module_order(c[1])))
    return table[cols]


def plot_aggregation(acc: pd.DataFrame, path: Path) -> tuple[Path | None, str | None]:
    """Table 5 as bars: top-1 of each temporal aggregation (module) without pooling, per backbone."""
    sub = acc[~acc["tp"]]
    if sub.empty:
        return None, "no run without temporal pooling"
    datasets = sorted(sub["dataset"].unique())
    frames = sorted(sub["frames"].astype(int).unique())
    modules, backbones = _modules(sub), _backbones(sub)
    fig, axes = plt.subplots(len(datasets), len(frames), figsize=(max(4.0, 1.0 + 0.45 * len(modules) * len(backbones)) * len(frames) / 1.6 + 2,
                                                                  3.3 * len(datasets)), squeeze=False)
    for i, dataset in enumerate(datasets):
        for j, f in enumerate(frames):
            ax = axes[i][j]
            rows = sub[(sub["dataset"] == dataset) & (sub["frames"] == f)]
            if rows.empty:
                ax.set_axis_off()
                ax.set_title(f"{dataset}, {f} frames: no runs", fontsize=9)
                continue
            sns.barplot(data=rows, x="backbone", y="top1", hue="module", order=backbones, hue_order=modules,
                        palette=_palette(modules), ax=ax)
            ax.set_title(f"{dataset}, {f} frames", fontsize=10)
            ax.set_xlabel("backbone")
            ax.set_ylabel("top-1 accuracy (%)")
            ax.grid(axis="y", alpha=0.3)
            if (i, j) != (0, len(frames) - 1):
                ax.get_legend().remove()
            else:
                ax.legend(title="aggregation", fontsize=8, title_fontsize=8, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path), None


def plot_accuracy_vs_macs(acc: pd.DataFrame, path: Path) -> tuple[Path | None, str | None]:
    """Fig. 1 style: top-1 vs GMACs per clip, circle area = parameters, colour = module."""
    d = acc.assign(macs=acc["macs_conv"].fillna(acc["macs_all"]).astype(float))
    d = d[d["macs"].notna()]
    if d.empty:
        return None, "no MACs recorded"
    d = d.assign(gmacs=d["macs"] / 1e9, params_m=d["params"].astype(float) / 1e6)
    datasets = sorted(d["dataset"].unique())
    modules = _modules(d)
    palette = _palette(modules)
    size_ref = d["params_m"].max() if d["params_m"].notna().any() else 1.0
    fig, axes = plt.subplots(1, len(datasets), figsize=(5.6 * len(datasets), 4.6), squeeze=False)
    for ax, dataset in zip(axes[0], datasets):
        rows = d[d["dataset"] == dataset]
        for module in modules:
            m = rows[rows["module"] == module]
            if m.empty:
                continue
            sizes = 20 + 600 * (m["params_m"].fillna(0) / size_ref)
            # facecolors, not color=: color would also override the edge colours that mark tp
            ax.scatter(m["gmacs"], m["top1"], s=sizes, facecolors=[(*palette[module], 0.55)] * len(m),
                       edgecolors=np.where(m["tp"], "black", "none"), linewidths=1.2, label=module)
        span = rows["gmacs"].max() / max(rows["gmacs"].min(), 1e-12)
        if span > 8:
            ax.set_xscale("log")
        elif span <= 1.0001:  # a single cost: give the axis some room instead of a zero-width range
            x = rows["gmacs"].iloc[0]
            ax.set_xlim(x * 0.8, x * 1.2)
        ax.set_title(dataset, fontsize=10)
        ax.set_xlabel("GMACs per clip (conv + linear, 224×224)")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=len(modules), frameon=False,
               title=f"module; circle area ∝ parameters (largest {size_ref:.1f} M); black edge = with temporal pooling")
    for h in fig.legends[0].legend_handles:
        h.set_sizes([60])
    fig.tight_layout(rect=(0, 0, 1, 0.86))
    return save_figure(fig, path), None


def save_figure(fig, path: Path) -> Path:
    """Write ``fig`` as a PNG at ``path`` (folders made) and close it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def plot_confusion(matrix: np.ndarray, path: Path, title: str, *, max_classes: int = 30,
                   pairs: pd.DataFrame | None = None) -> tuple[Path | None, str | None]:
    """The confusion matrix as a heat map (rows: true class, normalised per row), or, with more than
    ``max_classes`` classes (unreadable as a matrix), the most confused pairs as bars."""
    if matrix.sum() == 0:
        return None, "no predictions"
    if len(matrix) <= max_classes:
        rows = matrix.sum(axis=1, keepdims=True)
        share = np.divide(matrix, rows, out=np.zeros(matrix.shape), where=rows > 0) * 100
        fig, ax = plt.subplots(figsize=(1.2 + 0.32 * len(matrix), 1.0 + 0.3 * len(matrix)))
        sns.heatmap(share, ax=ax, cmap="Blues", vmin=0, vmax=100, square=True, annot=len(matrix) <= 12,
                    fmt=".0f", cbar_kws={"label": "% of the true class"})
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
    else:
        if pairs is None or pairs.empty:
            return None, "no confusions"
        fig, ax = plt.subplots(figsize=(7, 0.8 + 0.28 * len(pairs)))
        labels = [f"{t} → {p}" for t, p in zip(pairs["true"], pairs["predicted"])]
        ax.barh(labels[::-1], pairs["share"].to_numpy()[::-1], color="#4c72b0")
        ax.set_xlabel("% of the true class's videos")
        ax.set_ylabel("true → predicted class")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path), None


def plot_accuracy_vs_throughput(rows: pd.DataFrame, path: Path) -> tuple[Path | None, str | None]:
    """Top-1 against measured training throughput, one point per model (Table 8 as a picture)."""
    rows = rows.dropna(subset=["top1", "train_clips_per_s"])
    if rows.empty:
        return None, "no model has both a measured throughput and an accuracy"
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    ax.scatter(rows["train_clips_per_s"], rows["top1"], s=60, color="#4c72b0")
    for r in rows.itertuples():
        ax.annotate(r.model, (r.train_clips_per_s, r.top1), textcoords="offset points", xytext=(4, 4), fontsize=7)
    first = rows.iloc[0]
    ax.set_xlabel(f"training clips/s ({first['device']}, batch {int(first['batch'])}, {int(first['size'])} px)")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return save_figure(fig, path), None
