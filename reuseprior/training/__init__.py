"""Training (library layer): the generic supervised trainer with checkpoint/resume
(:mod:`.loop`, the recipe of thesis section 4.5.4) and the image augmentations of
the thesis's recipes (:mod:`.augment`). The package re-exports the trainer's public
names, so ``from reuseprior.training import fit`` and the like keep working."""

from reuseprior.training.loop import (
    CheckpointMismatchError,
    EpochSampler,
    ModelEma,
    TrainConfig,
    TrainingInterrupted,
    TrainResult,
    UnreadableCheckpointError,
    WarmupExponentialSchedule,
    amp_active,
    config_from_mapping,
    count_flops,
    evaluate,
    fit,
    load_checkpoint,
    peak_memory,
    read_checkpoint_file,
    save_checkpoint,
    set_bn_momentum,
)

__all__ = [
    "CheckpointMismatchError",
    "EpochSampler",
    "ModelEma",
    "TrainConfig",
    "TrainResult",
    "TrainingInterrupted",
    "UnreadableCheckpointError",
    "WarmupExponentialSchedule",
    "amp_active",
    "config_from_mapping",
    "count_flops",
    "evaluate",
    "fit",
    "load_checkpoint",
    "peak_memory",
    "read_checkpoint_file",
    "save_checkpoint",
    "set_bn_momentum",
]
