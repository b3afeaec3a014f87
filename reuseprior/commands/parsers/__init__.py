"""The arguments of every command, one light module per command (see :mod:`reuseprior.commands`)."""

__all__ = [
    "analyze",
    "analyze_zoo",
    "book",
    "build",
    "data",
    "depth_width",
    "revolver",
    "revolver_study",
    "score_zoos",
    "sharing_study",
    "train",
    "train_study",
]
