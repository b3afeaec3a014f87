"""What a reader sees of a table or a figure (issue 35, item 11):

* whole numbers print as integers (``14400``, not ``14400.00000``):
  :func:`reuseprior.reporting.tables.integers_as_int`, and no committed
  notebook shows a count with five decimal zeros;
* a comparison with the thesis is shown long, one row per (row, quantity),
  so that ``match`` is a column of its own whatever the number of quantities
  (:func:`reuseprior.reporting.tables.long_comparison`);
* text drawn on the heatmaps and scatter plots is at least
  :data:`reuseprior.reporting.plotting.MIN_TEXT_PX` high once the book has
  scaled the figure to its column.
"""

from __future__ import annotations

import math
import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from reuseprior.core import paths  # noqa: E402
from reuseprior.reporting.plotting import MIN_TEXT_PX, readable_fontsize, smallest_text_px  # noqa: E402
from reuseprior.reporting.reference import side_by_side  # noqa: E402
from reuseprior.reporting.tables import PARTS, integers_as_int, long_comparison, styled_html  # noqa: E402


def test_whole_float_columns_print_as_integers_and_others_keep_their_decimals() -> None:
    frame = pd.DataFrame({"Params": [14400.0, np.nan, 28810.0], "PG": [11.0, 11.81694, 9.5], "n": [1, 2, 3]})
    shown = integers_as_int(frame)
    assert str(shown["Params"].dtype) == "Int64" and shown["PG"].dtype == float and shown["n"].dtype == np.int64
    html = styled_html(frame, "t", precision=5)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", html)
    assert "14400" in cells and "28810" in cells and "-" in cells, cells
    assert "14400.00000" not in html and "11.00000" in html, "only whole columns lose their decimals"
    assert 'id="T_t"' in html, "a fixed table id: the HTML is the same on every run"


def _compared() -> pd.DataFrame:
    ours = pd.DataFrame({"Width": [12, 4], "Depth": [100, 900], "Params": [14400.0, 14400.0], "PG": [9.2143, 10.1]})
    thesis = pd.DataFrame({"Width": [12, 4], "Depth": [100, 900], "Params": [14400, 14400], "PG": [9.21, 10.2]})
    thesis.attrs["printed"] = thesis.astype(str)  # the digits as printed: PG to 0.01, Params to 1
    return side_by_side(ours, thesis, on=["Width", "Depth"], columns=["Params", "PG"]).assign(source="now")


def test_a_long_comparison_has_one_row_per_quantity_and_match_as_its_last_column() -> None:
    long = long_comparison(_compared(), ["Width", "Depth"], ["Params", "PG"], labels=["source"])
    assert list(long.columns) == list(PARTS) and PARTS[-1] == "match"
    assert list(long.index.names) == ["Width", "Depth", "source", "quantity"] and len(long) == 4
    params = long.xs("Params", level="quantity")
    assert params["ours"].tolist() == [14400, 14400] and all(type(v) is int for v in params["ours"])
    pg = long.xs("PG", level="quantity").droplevel("source")
    assert pg.loc[(12, 100)].tolist() == [9.2143, 9.21, pytest.approx(0.0043), "rounded"]
    assert pg.loc[(4, 900), "match"] == "off"
    assert "14400.0" not in long.to_string() and "14400.0" not in long.to_html()


def test_a_long_comparison_names_what_is_missing() -> None:
    with pytest.raises(KeyError, match=r"'Entropy \(ours\)'"):
        long_comparison(_compared(), ["Width", "Depth"], ["Params", "Entropy"])


#: The notebooks whose comparisons are shown long; elsewhere a float column
#: may mix quantities (ch3_revolver's Table C.1), and pandas prints a whole
#: value with the decimals of its column.
LONG_COMPARISONS = ("ch4_graph_tables", "ch5_depth_width", "ch5_energy_priors")


@pytest.mark.parametrize("name", LONG_COMPARISONS)
def test_no_committed_comparison_prints_a_whole_count_with_decimal_zeros(name: str) -> None:
    """``14400.00000``: a parameter count shown with the precision of a real
    number (chapter 5's tables did, through the Styler's ``precision=5``)."""
    found = []
    for path in [paths.NOTEBOOKS_DIR / f"{name}.ipynb"]:
        for cell in nbformat.read(path, as_version=4).cells:
            for output in cell.get("outputs", []):
                html = str(output.get("data", {}).get("text/html", ""))
                found += [f"{path.name}: {m}" for m in re.findall(r">\s*(\d{3,}\.0{5})\s*<", html)]
    assert not found, found[:10]


def test_readable_fontsize_grows_as_the_book_shrinks_the_figure() -> None:
    narrow, wide = plt.figure(figsize=(6, 4), dpi=100), plt.figure(figsize=(15.6, 4), dpi=100)
    try:
        assert readable_fontsize(narrow) == pytest.approx(MIN_TEXT_PX * 72 / 100)
        assert readable_fontsize(wide) > 2 * readable_fontsize(narrow)
        wide.text(0.5, 0.5, "cell", fontsize=readable_fontsize(wide))
        wide.text(0.1, 0.1, "too small", fontsize=7)
        assert smallest_text_px(wide) < MIN_TEXT_PX  # the 7 pt text, shown at 43 %
    finally:
        plt.close(narrow)
        plt.close(wide)


def test_the_depth_width_heatmaps_are_readable_in_the_book() -> None:
    from reuseprior.chapters import ch5_depth_width as dw

    grid = pd.DataFrame(
        [
            {"Depth": d, "Width": w, "ES": d * math.log2(w), "PG": d + w / 10, "P'G": d + w / 9}
            for d in (1, 2, 5, 10, 20, 40)
            for w in (2, 5, 10, 20, 40)
        ]
    )
    fig = dw.plot_grid_heatmaps(grid)
    try:
        assert any(t.get_text() == "40.0" for t in fig.axes[0].texts), "the cells carry their numbers"
        assert smallest_text_px(fig) >= MIN_TEXT_PX - 1e-9
    finally:
        plt.close(fig)


def test_the_graph_table_scatter_labels_are_readable_in_the_book() -> None:
    from reuseprior.chapters import ch4_graph_tables as gt

    rows = pd.DataFrame(
        {
            "Model": ["V2-B0", "V2-S", "ResNet-50"],
            "Params (M)": [7.2, 21.6, 25.6],
            "PG": [26.3, 28.7, 27.3],
            "P'G": [26.7, 29.3, 27.6],
            "Score": [76.9, 83.2, 80.3],
        }
    )
    fig = gt.plot_predictors_vs_top1(rows, rows)
    try:
        assert {t.get_text() for t in fig.axes[0].texts} == set(rows["Model"])
        assert smallest_text_px(fig) >= MIN_TEXT_PX - 1e-9
    finally:
        plt.close(fig)
