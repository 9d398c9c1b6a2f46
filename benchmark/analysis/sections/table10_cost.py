"""Paper Table 10's cost columns from the source's own runs: GFLOPs (8 frames) and parameters per
backbone and temporal aggregation, beside the printed values."""

import pandas as pd

from benchmark.analysis.printed import load_printed
from benchmark.analysis.report import ReportContext, register_section

AGGREGATION = {"TSN": "none"}  # Table 10 calls TSN "none"; the other modules keep their names


def measured_costs(done: pd.DataFrame) -> pd.DataFrame:
    """One row per (dataset, backbone, module) of the 8-frame runs without temporal pooling."""
    runs = done[(done["frames"] == 8) & (~done["tp"].astype(bool))].dropna(subset=["macs_conv", "params"])
    if runs.empty:
        return pd.DataFrame()
    costs = runs.groupby(["dataset", "backbone", "module"], sort=True)[["macs_conv", "params"]].first()
    costs = costs.reset_index()
    costs["aggregation"] = costs["module"].map(lambda m: AGGREGATION.get(m, m))
    costs["flops_g_f8"] = costs["macs_conv"] / 1e9
    costs["params_m"] = costs["params"] / 1e6
    return costs[["dataset", "backbone", "aggregation", "flops_g_f8", "params_m"]]


@register_section("table 10 cost", order=35)
def section(report: ReportContext) -> None:
    costs = measured_costs(report.done)
    if costs.empty:
        return
    printed = load_printed("table10")[["backbone", "aggregation", "flops_g_f8", "params_m"]]
    both = costs.merge(printed, on=["backbone", "aggregation"], how="left", suffixes=("", "_printed"))
    report.page.heading("Cost per temporal aggregation, 8 frames (Table 10)")
    report.page.para("GFLOPs = multiply-adds of convolutions for one 224×224 clip (the paper's convention); "
                     "parameters include the dataset's classifier. *_printed: Table 10 as printed (empty where "
                     "the paper has no such row).")
    report.page.table(both, report.save_csv(both, "table10_cost.csv"), floatfmt="{:.1f}")
