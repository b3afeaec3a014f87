"""Plot style, captions and deterministic figure files shared by every notebook.

Policy for notebook figures: every figure is saved once (``ctx.save_figure``),
displayed once (:func:`show`, which also closes it so that figures do not pile
up or show a second time), and a figure made from trained models says on the
figure which data, profile and run size produced it (:func:`caption`).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use(matplotlib.get_backend() or "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

__all__ = ["apply_style", "caption", "save_figure", "show"]

#: PNG metadata that would change on every run (software version, date) is
#: dropped so that regenerated figures are byte-identical.
_PNG_METADATA = {"Software": None}


def apply_style() -> None:
    """The seaborn theme used by every figure of the project."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "svg.hashsalt": "reuseprior"})


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` as a deterministic PNG (no timestamps) and return the path."""
    path = Path(path).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, bbox_inches="tight", metadata=_PNG_METADATA)
    return path


def caption(fig: plt.Figure, text: str, *, fontsize: float = 9.0) -> plt.Text:
    """A caption line under the axes of ``fig`` (call after ``tight_layout``;
    ``bbox_inches="tight"`` keeps it in the saved PNG and the inline display).
    Used to name the data, profile and run size a figure comes from."""
    return fig.text(0.5, 0.0, text, ha="center", va="top", fontsize=fontsize, color="0.25", wrap=True)


def show(fig: plt.Figure) -> None:
    """Display ``fig`` once in the notebook and close it, so that neither the
    inline backend's end-of-cell flush nor a later ``plt.show()`` shows it again."""
    from IPython.display import display

    display(fig)
    plt.close(fig)
