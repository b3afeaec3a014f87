"""Training (library layer): the generic supervised trainer with checkpoint/resume
(:mod:`.loop`) and the image augmentations of the thesis's recipes (:mod:`.augment`)."""

from reuseprior.training.loop import CheckpointMismatchError, TrainConfig, fit

__all__ = ["CheckpointMismatchError", "TrainConfig", "fit"]
