"""The arguments of every command, one light module per command (see :mod:`reuseprior.commands`)."""

__all__ = [
    "analyze",
    "analyze_zoo",
    "book",
    "build",
    "compare",
    "data",
    "depth_width",
    "revolver",
    "score_zoos",
    "study",
    "train",
]
