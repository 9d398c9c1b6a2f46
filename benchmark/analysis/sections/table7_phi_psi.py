"""Paper Table 7: spatial contribution Φ and temporal improvement Ψ, checked against the printed table."""

from benchmark.analysis.phi_psi import METRIC_NAMES, compare_with_table7, model_metrics, summarize
from benchmark.analysis.phi_psi_intervals import phi_psi_intervals
from benchmark.analysis.report import ReportContext, register_section

PAPER_DATASETS = {"mini-ssv2", "mini-kinetics", "mini-mit"}


@register_section("phi psi", order=40)
def section(report: ReportContext) -> None:
    page = report.page
    page.heading("Spatial contribution Φ and temporal improvement Ψ (Table 7, Eq. 1–2)")
    summary = summarize(report.table)
    report.save_csv(summary.assign(missing=summary["missing"].map("; ".join)), "table7_phi_psi.csv")
    report.save_csv(model_metrics(report.table), "phi_psi_per_model.csv")
    shown = summary.rename(columns=METRIC_NAMES).drop(columns=["missing"])
    page.table(shown, "tables/table7_phi_psi.csv", floatfmt="{:.3f}")
    missing = [f"{r.dataset}: {m}" for r in summary.itertuples() for m in r.missing]
    if missing:
        page.para(f"Missing cells ({len(missing)}), not included in the averages:")
        page.bullets(missing)
    else:
        page.para("No missing cells: every average uses every (backbone, frames) cell of the source.")
    intervals = phi_psi_intervals(report.table)
    if not intervals.empty:
        page.para("Each model's Φ and Ψ with 95 % bootstrap intervals over the videos it and its TSN baseline were "
                  "tested on; Ψ is undefined where TSN's headroom (100 − its accuracy) is within the noise.")
        page.table(intervals, report.save_csv(intervals, "phi_psi_intervals.csv"), floatfmt="{:.3f}")
    if PAPER_DATASETS & set(summary["dataset"]):
        check = compare_with_table7(summary)
        check = check[check["dataset"].isin(summary["dataset"])]
        report.save_csv(check, "table7_vs_paper.csv")
        page.para(f"Against the paper's printed Table 7: {int(check['matches'].sum())} of {len(check)} cells "
                  "match to two decimals.")
        bad = check[~check["matches"]]
        if not bad.empty:
            page.table(bad.reset_index(drop=True), None, floatfmt="{:.4f}")
