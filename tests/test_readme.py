"""The README's chapter 6 tables are quoted from what the notebook wrote to
``figures/`` (``make figures``), so they cannot drift from the computed numbers."""

from __future__ import annotations

import pandas as pd

from reuseprior import paths

FIGURES = paths.ROOT / "figures" / "ch6_predictive_validity"
HEADER = "| score | nb201 (n) | torchvision (n) | pytorchcv (n) |"


def _tables_with_header(text: str, header: str) -> list[list[str]]:
    """The data rows of every Markdown table in ``text`` whose header line is ``header``."""
    lines, tables = text.splitlines(), []
    for i, line in enumerate(lines):
        if line == header:
            rows = []
            for row in lines[i + 2:]:
                if not row.startswith("|"):
                    break
                rows.append(row)
            tables.append(rows)
    return tables


def test_chapter6_correlation_tables_are_quoted_from_the_notebook_outputs():
    readme = (paths.ROOT / "README.md").read_text()
    all_rows, common_rows = _tables_with_header(readme, HEADER)
    for rows, name in [(all_rows, "correlations_summary.md"), (common_rows, "correlations_common_rows_summary.md")]:
        written = set((FIGURES / name).read_text().splitlines())
        stale = [row for row in rows if row not in written]
        assert rows and not stale, f"README rows not in figures/ch6_predictive_validity/{name} (paste them again): {stale}"


def test_chapter6_coverage_table_has_the_computed_counts():
    readme = (paths.ROOT / "README.md").read_text()
    coverage = pd.read_csv(FIGURES / "coverage.csv").set_index("zoo")
    labels = {"nb201": "| NAS-Bench-201 |", "torchvision": "| torchvision |", "pytorchcv": "| pytorchcv |"}
    for zoo, label in labels.items():
        row = next(line for line in readme.splitlines() if line.startswith(label))
        scored, total, proxies, every = (int(coverage.loc[zoo, c]) for c in
                                         ["scored", "in zoo", "with data-dependent proxies", "with every proxy"])
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[1] == f"{scored:,} of {total:,}", (zoo, cells[1])
        assert cells[2].startswith(f"{proxies:,}") and f"all six on {every:,}" in cells[2], (zoo, cells[2])
