"""Accuracy at matched cost: the Pareto front of top-1 against MACs (and measured latency where
'stbench bench' files are given) per dataset."""

from __future__ import annotations

from benchmark.analysis.at_cost import cost_points, pareto_front
from benchmark.analysis.report import ReportContext, register_section


@register_section("pareto front", order=72)
def section(report: ReportContext) -> None:
    costs = ["macs"] + (["latency"] if report.bench is not None and not report.bench.empty else [])
    report.page.heading("Accuracy at matched cost: the Pareto front")
    for cost in costs:
        front = pareto_front(cost_points(report.done, cost, report.bench))
        if front.empty:
            report.page.para(f"No finished runs with a {cost} figure.")
            continue
        report.page.para(f"Per dataset, the models that no other model beats on both top-1 and {cost} "
                         f"({'convolution MACs per clip' if cost == 'macs' else 'measured by stbench bench'}). "
                         f"stbench compare --at-cost {cost} reads each module's curve at the other's costs.")
        report.page.table(front, report.save_csv(front, f"pareto_{cost}.csv"))
