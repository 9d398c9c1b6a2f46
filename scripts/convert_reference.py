"""Regenerate benchmark/resources/reference/paper_mini_grid.csv from the shipped official Markdown table."""

from benchmark.analysis.reference import write_mini_grid_csv

if __name__ == "__main__":
    print(write_mini_grid_csv())
