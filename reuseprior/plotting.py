"""Plot style and deterministic figure files shared by every notebook."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use(matplotlib.get_backend() or "Agg")

import matplotlib.pyplot as plt  # noqa: E402
import seaborn as sns  # noqa: E402

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
