"""Plot style, captions and deterministic figure files shared by every notebook.

Policy for notebook figures: every figure is saved once (``ctx.save_figure``),
displayed once (:func:`show`, never ``plt.show()``; it also closes the figure so
that figures do not pile up or show a second time), inline whatever backend
``MPLBACKEND`` names (:func:`inline_figures`, called by the notebooks'
``setup``), and a figure made from trained models says on the figure which
data, profile and run size produced it (:func:`caption`).

Text drawn on a figure (a heatmap's cell numbers, a scatter's point labels)
is sized for where the figure is read: the book scales an inline figure
wider than its content column (:data:`reuseprior.reporting.book_layout.CONTENT_PX`)
down to it, so such text takes :func:`readable_fontsize`, at least
:data:`MIN_TEXT_PX` high on screen; :func:`smallest_text_px` measures it.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use(matplotlib.get_backend() or "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

from reuseprior.core.files import atomic_write  # noqa: E402
from reuseprior.reporting.book_layout import CONTENT_PX  # noqa: E402

__all__ = [
    "INLINE_BACKEND",
    "MIN_TEXT_PX",
    "apply_style",
    "caption",
    "inline_figures",
    "readable_fontsize",
    "save_figure",
    "show",
    "smallest_text_px",
]

#: matplotlib's name of the backend that shows a Jupyter kernel's figures in the notebook.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"

#: The smallest height, in CSS px on the book's page, of text drawn on a figure.
MIN_TEXT_PX = 12.0  # as the book's output tables (book/_assets/reuseprior.css: 0.75rem)

#: PNG metadata that would change on every run (software version, date) is
#: dropped so that regenerated figures are byte-identical.
_PNG_METADATA = {"Software": None}


def _running_shell():
    """The IPython shell this process runs in, or None. A Jupyter kernel has imported IPython before any
    notebook code runs, so it is read from the loaded modules: IPython is not a dependency of the
    package, and a process without it (a script, a GPU worker) has no shell."""
    ipython = sys.modules.get("IPython")
    return ipython.get_ipython() if ipython is not None else None


def inline_figures() -> bool:
    """In a Jupyter kernel, show figures inline whatever backend the
    environment names: ``MPLBACKEND=Agg`` (headless servers, many CI set-ups)
    reaches the kernels papermill and nbval start, and under it a figure shows
    as text only (``plt.show()`` shows nothing), so the executed notebook would
    lose its images. Outside a kernel (scripts, tests, a terminal IPython)
    nothing changes. Returns whether the kernel's backend was switched."""
    shell = _running_shell()
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    if matplotlib.get_backend() == INLINE_BACKEND:
        return False
    shell.run_line_magic("matplotlib", "inline")
    return True


def apply_style() -> None:
    """The seaborn theme used by every figure of the project."""
    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    plt.rcParams.update({"figure.dpi": 100, "savefig.dpi": 120, "svg.hashsalt": "reuseprior"})


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Write ``fig`` as a deterministic PNG (no timestamps), whole (:func:`~reuseprior.core.files.atomic_write`),
    and return the path."""
    path = Path(path).with_suffix(".png")
    with atomic_write(path, "wb") as fh:
        fig.savefig(fh, format="png", bbox_inches="tight", metadata=_PNG_METADATA)
    return path


def caption(fig: plt.Figure, text: str, *, fontsize: float = 9.0) -> plt.Text:
    """A caption line under the axes of ``fig`` (call after ``tight_layout``;
    ``bbox_inches="tight"`` keeps it in the saved PNG and the inline display).
    Used to name the data, profile and run size a figure comes from."""
    return fig.text(0.5, 0.0, text, ha="center", va="top", fontsize=fontsize, color="0.25", wrap=True)


def _screen_scale(fig: plt.Figure, content_px: float) -> float:
    """How much the book shrinks ``fig``'s inline image (1: shown at its size)."""
    return min(1.0, content_px / (fig.get_figwidth() * fig.dpi))


def readable_fontsize(fig: plt.Figure, *, minimum_px: float = MIN_TEXT_PX, content_px: float = CONTENT_PX) -> float:
    """A font size, in points, for text drawn on ``fig`` (cell numbers, point
    labels) that is at least ``minimum_px`` high once the book has scaled the
    figure to its ``content_px`` column. Set the figure's size first."""
    return minimum_px / _screen_scale(fig, content_px) * 72.0 / fig.dpi


def smallest_text_px(fig: plt.Figure, *, content_px: float = CONTENT_PX) -> float:
    """The on-screen height, in CSS px, of the smallest visible non-empty text
    of ``fig`` (titles, labels, ticks, annotations, legends) as the book shows
    it; ``inf`` for a figure without text."""
    fig.canvas.draw()  # tick labels exist once drawn
    sizes = [
        text.get_fontsize()
        for text in fig.findobj(matplotlib.text.Text)
        if text.get_visible() and text.get_text().strip() and text.get_figure() is not None
    ]
    return min(sizes, default=float("inf")) * fig.dpi / 72.0 * _screen_scale(fig, content_px)


def show(fig: plt.Figure) -> None:
    """Display ``fig`` once in the notebook and close it, so that neither the
    inline backend's end-of-cell flush nor a later ``plt.show()`` shows it again."""
    from IPython.display import display  # noqa: PLC0415 (IPython: the notebooks extra)

    display(fig)
    plt.close(fig)
