"""``stbench report``: an HTML page and a Markdown file with the paper's tables and figures.

Everything shown is also written as CSV next to the page, so every number in a figure or table can be
checked against its data. Sections whose data the source lacks say so instead of being left out.
"""

from __future__ import annotations

import html
import json
import time
from pathlib import Path

import pandas as pd

from benchmark.analysis import figures
from benchmark.analysis.collect import done_runs
from benchmark.analysis.phi_psi import METRIC_NAMES, compare_with_table7, model_metrics, summarize

PAPER_DATASETS = {"mini-ssv2", "mini-kinetics", "mini-mit"}


def _md_table(df: pd.DataFrame, floatfmt: str = "{:.2f}") -> str:
    """A GitHub-Markdown table (no extra dependency)."""
    if df.empty:
        return "_(no data)_\n"
    flat = df.copy()
    if isinstance(flat.columns, pd.MultiIndex):
        flat.columns = [" ".join(str(c) for c in col) for col in flat.columns]
    if not isinstance(flat.index, pd.RangeIndex):
        flat = flat.reset_index()
        if any(isinstance(c, tuple) for c in flat.columns):
            flat.columns = [" ".join(str(x) for x in c).strip() if isinstance(c, tuple) else c for c in flat.columns]

    def cell(v):
        if isinstance(v, float):
            return "-" if pd.isna(v) else floatfmt.format(v)
        if v is None or v is pd.NA:
            return "-"
        return str(v).replace("|", "\\|")

    lines = ["| " + " | ".join(str(c) for c in flat.columns) + " |", "|" + "---|" * len(flat.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in flat.itertuples(index=False)]
    return "\n".join(lines) + "\n"


class _Page:
    """Builds the HTML and Markdown versions side by side."""

    def __init__(self, title: str):
        self.md = [f"# {title}\n"]
        self.html = [f"<h1>{html.escape(title)}</h1>"]

    def heading(self, text: str) -> None:
        self.md.append(f"\n## {text}\n")
        self.html.append(f"<h2>{html.escape(text)}</h2>")

    def para(self, text: str) -> None:
        self.md.append(text + "\n")
        self.html.append(f"<p>{html.escape(text)}</p>")

    def bullets(self, items: list[str]) -> None:
        self.md.append("\n".join(f"- {i}" for i in items) + "\n")
        self.html.append("<ul>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>")

    def table(self, df: pd.DataFrame, csv_name: str | None = None, floatfmt: str = "{:.2f}") -> None:
        self.md.append(_md_table(df, floatfmt))
        self.html.append(df.to_html(float_format=lambda v: floatfmt.format(v), na_rep="-", border=0,
                                    classes="data") if not df.empty else "<p><em>(no data)</em></p>")
        if csv_name:
            self.md.append(f"Data: [`{csv_name}`]({csv_name})\n")
            self.html.append(f'<p class="data-link">Data: <a href="{csv_name}">{csv_name}</a></p>')

    def figure(self, path: Path | None, why_not: str | None, caption: str, root: Path) -> None:
        if path is None:
            self.para(f"Figure not drawn: {why_not}.")
            return
        rel = path.relative_to(root).as_posix()
        self.md.append(f"![{caption}]({rel})\n\n_{caption}_\n")
        self.html.append(f'<figure><img src="{rel}" alt="{html.escape(caption)}">'
                         f"<figcaption>{html.escape(caption)}</figcaption></figure>")

    def write(self, out: Path) -> None:
        style = ("body{font-family:sans-serif;max-width:1200px;margin:auto;padding:1em}"
                 "table.data{border-collapse:collapse;font-size:0.85em;margin:0.5em 0}"
                 "table.data td,table.data th{border:1px solid #ccc;padding:2px 6px;text-align:right}"
                 "img{max-width:100%}figcaption{font-style:italic;color:#444}")
        (out / "report.md").write_text("\n".join(self.md))
        (out / "index.html").write_text(
            "<!DOCTYPE html><html><head><meta charset='utf-8'><title>stbench report</title>"
            f"<style>{style}</style></head><body>" + "\n".join(self.html) + "</body></html>\n")


def build_report(table: pd.DataFrame, out: str | Path, *, source: str = "") -> dict:
    """Write index.html, report.md, tables/*.csv and figures/*.png under ``out``; returns what was written."""
    start = time.perf_counter()
    out = Path(out)
    (out / "tables").mkdir(parents=True, exist_ok=True)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    done = done_runs(table)
    acc = figures.model_accuracy(done)
    written: dict[str, list[str]] = {"tables": [], "figures": [], "skipped": []}

    def save_csv(df: pd.DataFrame, name: str, index: bool = False) -> str:
        df.to_csv(out / "tables" / name, index=index)
        written["tables"].append(f"tables/{name}")
        return f"tables/{name}"

    page = _Page("stbench report")
    page.para(f"Source: {source or 'results table'}. {len(table)} runs, {len(done)} finished with an accuracy.")
    states = table["state"].value_counts().to_dict()
    page.bullets([f"{state}: {count}" for state, count in sorted(states.items())])
    table.to_csv(out / "tables" / "runs.csv", index=False)
    written["tables"].append("tables/runs.csv")
    unfinished = table[table["state"] != "done"]
    if not unfinished.empty:
        page.heading("Runs without results")
        cols = ["dataset", "model", "seed", "state", "reason", "run_dir"]
        page.table(unfinished[cols].reset_index(drop=True), save_csv(unfinished[cols], "unfinished.csv"))

    # Fig. 4/10
    page.heading("Top-1 accuracy vs frames (Fig. 4 / Fig. 10)")
    save_csv(acc, "accuracy.csv")
    by_frames = acc.pivot_table(index=["dataset", "module", "backbone", "tp"], columns="frames", values="top1",
                                sort=False) if not acc.empty else pd.DataFrame()
    by_frames.columns = [f"f{c}" for c in by_frames.columns]
    page.table(by_frames, save_csv(by_frames, "accuracy_by_frames.csv", index=True))
    fig, why = figures.plot_accuracy_vs_frames(acc, out / "figures" / "accuracy_vs_frames.png")
    page.figure(fig, why, "Top-1 accuracy vs input frames; colour = module, marker = backbone.", out)
    _record(written, fig, why, "accuracy_vs_frames")

    # Fig. 6
    page.heading("Gain from temporal pooling (Fig. 6)")
    gains = figures.tp_gains(acc)
    if not gains.empty:
        page.table(gains, save_csv(gains, "tp_gains.csv"))
    fig, why = figures.plot_tp_gains(gains, out / "figures" / "tp_gains.png")
    page.figure(fig, why, "Top-1 with temporal pooling minus without, per model and frames.", out)
    _record(written, fig, why, "tp_gains")

    # Table 5
    page.heading("Temporal aggregation without temporal pooling (Table 5)")
    agg = figures.aggregation_table(acc)
    if not agg.empty:
        page.table(agg, save_csv(agg, "table5_aggregation.csv", index=True), floatfmt="{:.1f}")
    fig, why = figures.plot_aggregation(acc, out / "figures" / "aggregation.png")
    page.figure(fig, why, "Top-1 of each temporal aggregation (module) without temporal pooling.", out)
    _record(written, fig, why, "aggregation")

    # Table 7
    page.heading("Spatial contribution Φ and temporal improvement Ψ (Table 7, Eq. 1–2)")
    summary = summarize(table)
    save_csv(summary.assign(missing=summary["missing"].map("; ".join)), "table7_phi_psi.csv")
    save_csv(model_metrics(table), "phi_psi_per_model.csv")
    shown = summary.rename(columns=METRIC_NAMES).drop(columns=["missing"])
    page.table(shown, "tables/table7_phi_psi.csv", floatfmt="{:.3f}")
    missing = [f"{r.dataset}: {m}" for r in summary.itertuples() for m in r.missing]
    if missing:
        page.para(f"Missing cells ({len(missing)}), not included in the averages:")
        page.bullets(missing)
    else:
        page.para("No missing cells: every average uses every (backbone, frames) cell of the source.")
    if PAPER_DATASETS & set(summary["dataset"]):
        check = compare_with_table7(summary)
        check = check[check["dataset"].isin(summary["dataset"])]
        save_csv(check, "table7_vs_paper.csv")
        ok = int(check["matches"].sum())
        page.para(f"Against the paper's printed Table 7: {ok} of {len(check)} cells match to two decimals.")
        bad = check[~check["matches"]]
        if not bad.empty:
            page.table(bad.reset_index(drop=True), None, floatfmt="{:.4f}")

    # Fig. 1
    page.heading("Accuracy vs cost (Fig. 1 style)")
    fig, why = figures.plot_accuracy_vs_macs(acc, out / "figures" / "accuracy_vs_macs.png")
    page.figure(fig, why, "Top-1 vs GMACs per clip (the paper's convention: convolution and linear multiply-adds at 224×224, whatever the training size); circle area = parameters.", out)
    _record(written, fig, why, "accuracy_vs_macs")

    page.write(out)
    written["pages"] = ["index.html", "report.md"]
    written["seconds"] = round(time.perf_counter() - start, 2)
    (out / "report.json").write_text(json.dumps(written, indent=2))
    return written


def _record(written: dict, fig: Path | None, why: str | None, name: str) -> None:
    if fig is None:
        written["skipped"].append(f"{name}: {why}")
    else:
        written["figures"].append(f"figures/{fig.name}")
