"""``stbench report``: an HTML page and a Markdown file with the paper's tables and figures.

Everything shown is also written as CSV next to the page, so every number in a figure or table can be
checked against its data. Sections whose data the source lacks say so instead of being left out.
Each section is one file in ``benchmark/analysis/sections/`` (or a ``STBENCH_PLUGINS`` module) that
registers a function ``section(report: ReportContext)`` with :func:`register_section`.
"""

from __future__ import annotations

import html
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from benchmark.analysis import figures
from benchmark.analysis.collect import done_runs
from benchmark.errors import ConfigError, StbenchError
from benchmark.plugins import Registry


@dataclass(frozen=True)
class SectionEntry:
    name: str
    function: Callable[[ReportContext], None]
    order: int  # sections appear in increasing order; ties by name


SECTIONS: Registry[SectionEntry] = Registry("report section", ("benchmark.analysis.sections",), StbenchError)


def register_section(name: str, *, order: int):
    """Register ``function(report: ReportContext)`` as a section of every report."""
    def decorator(function):
        SECTIONS.add(name, SectionEntry(name, function, order))
        return function

    return decorator


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

    def subheading(self, text: str) -> None:
        self.md.append(f"\n### {text}\n")
        self.html.append(f"<h3>{html.escape(text)}</h3>")

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


@dataclass
class ReportContext:
    """What a section reads (the runs table, finished runs, per-model accuracy) and writes through."""

    table: pd.DataFrame
    out: Path
    page: _Page
    printed: bool = False  # the source is the paper itself: show its printed tables
    bench: pd.DataFrame | None = None  # measured speed/memory (benchmark.analysis.measured_cost.load_bench)
    written: dict[str, list[str]] = field(default_factory=lambda: {"tables": [], "figures": [], "skipped": []})

    def __post_init__(self) -> None:
        self.done = done_runs(self.table)
        self.acc = figures.model_accuracy(self.done)

    def save_csv(self, df: pd.DataFrame, name: str, index: bool = False) -> str:
        """Write ``tables/<name>`` and return its path relative to the report."""
        df.to_csv(self.out / "tables" / name, index=index)
        self.written["tables"].append(f"tables/{name}")
        return f"tables/{name}"

    def figure_path(self, name: str) -> Path:
        return self.out / "figures" / f"{name}.png"

    def add_figure(self, name: str, drawn: tuple[Path | None, str | None], caption: str) -> None:
        """Show a figure from ``figures.plot_*`` (path or the reason it was not drawn) and record it."""
        fig, why = drawn
        self.page.figure(fig, why, caption, self.out)
        if fig is None:
            self.written["skipped"].append(f"{name}: {why}")
        else:
            self.written["figures"].append(f"figures/{fig.name}")


def build_report(table: pd.DataFrame, out: str | Path, *, source: str = "", printed: bool = False,
                 bench: pd.DataFrame | None = None) -> dict:
    """Write index.html, report.md, tables/*.csv and figures/*.png under ``out``; returns what was written."""
    start = time.perf_counter()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder (the report is a folder: give a new or existing "
                          "folder name)")
    try:
        (out / "tables").mkdir(parents=True, exist_ok=True)
        (out / "figures").mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{out}: cannot create the report folder ({exc.strerror or exc})") from exc
    report = ReportContext(table, out, _Page("stbench report"), printed, bench)
    report.page.para(f"Source: {source or 'results table'}. {len(table)} runs, "
                     f"{len(report.done)} finished with an accuracy.")
    states = table["state"].value_counts().to_dict()
    report.page.bullets([f"{state}: {count}" for state, count in sorted(states.items())])
    report.save_csv(table, "runs.csv")
    for entry in sorted(SECTIONS.values(), key=lambda e: (e.order, e.name)):
        entry.function(report)
    report.page.write(out)
    written = {**report.written, "pages": ["index.html", "report.md"],
               "seconds": round(time.perf_counter() - start, 2)}
    (out / "report.json").write_text(json.dumps(written, indent=2))
    return written
