"""Each cell's seed spread: the top-1 over the seeds of cells run more than once (how large a
difference between two cells must be before it says more than the seed)."""

from __future__ import annotations

from benchmark.analysis.report import ReportContext, register_section
from benchmark.analysis.seeds import pooled_sd, seed_spread


@register_section("seed spread", order=71)
def section(report: ReportContext) -> None:
    spread = seed_spread(report.done)
    report.page.heading("Seed spread")
    if spread.empty:
        report.page.para("No cell of this source was run with several seeds: each figure above is one training run, "
                         "and a gap of a few tenths of a point between two of them may be the seed. Add seeds: [0, 1, 2] "
                         "to an experiment's axes; stbench plan EXP --detect 0.5 says how many a difference needs.")
        return
    report.page.para(f"Top-1 over the seeds of each cell run more than once; pooled standard deviation "
                     f"{pooled_sd(spread):.2f} points. compare's intervals resample these seeds and the videos.")
    report.page.table(spread, report.save_csv(spread, "seed_spread.csv"))
