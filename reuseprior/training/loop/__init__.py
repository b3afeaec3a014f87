"""A small, generic, resumable image-classification trainer.

It implements the EfficientNetV2 training recipe the thesis follows
(section 4.5.4, "Hyperparameters", defaults of Tan & Le's official
TensorFlow implementation unless the thesis changes them):

* RMSprop (decay 0.9, momentum 0.9, epsilon 1e-3), weight decay 1e-5 on
  every parameter except biases and batch-norm scales/shifts, label
  smoothing 0.1. Two RMSprops differ in exactly the places that matter at
  epsilon 1e-3: ``optimizer="rmsprop_tf"`` is TensorFlow 1's (the official
  code's ``tf.compat.v1.train.RMSPropOptimizer``: epsilon inside the square
  root, the mean square started at 1, the learning rate inside the momentum;
  timm's ``RMSpropTF``), ``"rmsprop"`` is PyTorch's (epsilon outside the root,
  mean square started at 0), whose first steps are far larger;
* learning rate ``lr_base * batch_size / 256`` (the official code scales the
  base rate per 256 images; thesis: "reduce the batch size and learning rate
  based on the same ratio"), linear warm-up for ``lr_warmup_epochs`` (5) and
  then a staircase exponential decay by 0.97 every 2.4 epochs
  (``train.lr_sched=exponential``);
* batch-norm momentum 0.99 *in TensorFlow's convention* (the weight of the
  old running average), i.e. ``momentum=0.01`` for PyTorch's ``BatchNorm``;
* optional exponential moving average of the weights (``train.ema_decay``).

What makes it more than a loop:

* **checkpoint/resume** -- after every epoch a checkpoint with the model,
  optimizer, schedule, AMP scaler, EMA, every random-number generator state,
  the epoch and the history so far is written atomically (a uniquely named,
  fsynced temporary file, then ``os.replace``) and read back with
  ``torch.load(weights_only=True)``, so a crafted file cannot run code on
  resume (:func:`read_checkpoint_file`). The order of the training images is a pure function
  of ``(seed, epoch)``, so a run killed at any point and resumed from its
  last checkpoint reproduces the uninterrupted run bit for bit on CPU;
* **interrupt safety** -- Ctrl-C (SIGINT / KeyboardInterrupt) is honoured at
  the next batch boundary: the partial epoch is checkpointed and
  :class:`TrainingInterrupted` carries the partial :class:`TrainResult`, so
  nothing already computed is lost; a second Ctrl-C interrupts immediately;
* **measurements** -- trainable parameters
  (:func:`reuseprior.core.parameters.count_parameters`: shared weights count
  once), FLOPs of one forward pass (``torch.utils.flop_counter``), training
  throughput and peak memory (CUDA ``max_memory_allocated``; on CPU the
  process's peak resident set size from :mod:`resource`, which is a
  process-lifetime high-water mark and says so in ``peak_memory_kind``).
"""

from __future__ import annotations

from reuseprior.baselines import complexity  # noqa: F401
from reuseprior.core.errors import (
    CheckpointMismatchError,  # noqa: F401
    UnreadableCheckpointError,  # noqa: F401
)
from reuseprior.training.loop.checkpoints import (  # noqa: F401
    EpochSampler,
    TrainingInterrupted,
    data_loader,
    discard_checkpoint,
    load_checkpoint,
    read_checkpoint_file,
    save_checkpoint,
)
from reuseprior.training.loop.config import (  # noqa: F401
    CHECKPOINT_FORMAT,
    ModelEma,
    TrainConfig,
    TrainResult,
    WarmupExponentialSchedule,
    count_flops,
    parameter_uses,
    peak_rss_bytes,
    reset_peak_rss,
    set_bn_momentum,
    settling_warnings,
)
from reuseprior.training.loop.fitting import (  # noqa: F401
    amp_active,
    checks_each_step,
    cudnn_autotune,
    evaluate,
    fit,
    make_optimizer,
    synchronize,
    updates_one_tensor_at_a_time,
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
    "count_flops",
    "cudnn_autotune",
    "discard_checkpoint",
    "evaluate",
    "fit",
    "make_optimizer",
    "load_checkpoint",
    "parameter_uses",
    "read_checkpoint_file",
    "save_checkpoint",
    "set_bn_momentum",
    "settling_warnings",
    "synchronize",
    "checks_each_step",
    "updates_one_tensor_at_a_time",
]
