"""Analysis: collect run results, compute the paper's Φ/Ψ metrics, build reports and fair comparisons."""
