"""When a trained run counts: the convergence and fit criteria every trained study states, and the
linear floor they are measured against.

A trained comparison decides something only between models that have *converged* and *fit* their
training images. The criteria are the verdict policy's (:mod:`reuseprior.core.verdict_policy`, their
one home, where their callers import them); this module applies them to a study's stored runs
(:func:`run_criteria`) and fits the linear floor they are measured against (:func:`linear_floor`). Why
the thresholds are what they are:

- **Plateau** (:func:`~reuseprior.core.verdict_policy.plateaued`): the mean validation top-1 of the last
  ``window`` epochs exceeds the mean of the ``window`` epochs before by less than ``tolerance_pp``
  percentage points (default: 3 epochs, 2 points). Treating the two windows as independent binomial
  samples of a 1,000-image validation accuracy near 85 % (``sqrt(0.85 * 0.15 / 1000) = 1.1`` points an
  epoch, about 0.9 for the difference of two 3-epoch means) overstates the noise: both windows score
  the *same* images, so their difference varies only through the images whose prediction changes,
  which per-image predictions (not stored) would measure. That bound is therefore an upper one, and the
  threshold is held to what the runs show instead: a study applying it reports the spread of its runs'
  last-window gains and its verdicts at other thresholds. A run shorter than ``2 * window`` epochs has
  not shown a plateau.
- **Fit** (:func:`~reuseprior.core.verdict_policy.fits_training_set`): the training top-1 is at least
  the training top-1 of a linear classifier of the same images (:func:`linear_floor`): a network that
  fits its own training images worse than a logistic regression does is underfitting, whatever its
  test score. Measured in eval mode on the training images after training where a study stores it (as
  the floor's is), else the running top-1 of the last epoch in train mode (dropout on, weights moving),
  which understates it.
- **Above the floor**: its test top-1 exceeds the linear classifier's test top-1 on the same images
  (the floor row every trained table shows).

:func:`~reuseprior.core.verdict_policy.seeds_that_count` applies the pairing policy: a seed stands or
falls whole.

:func:`run_criteria` applies all three to one run's per-epoch history (the ``history`` of
:class:`reuseprior.training.loop.TrainResult`, as stored by the studies in an ``epoch_history`` column:
:func:`history_json` / :func:`read_history`).
"""

from __future__ import annotations

import json
import math
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from torch.utils.data import Dataset

from reuseprior.core.stored_rows import COUNT, PERCENT, ColumnKinds
from reuseprior.core.verdict_policy import PLATEAU_WINDOW, RunCriteria, fits_training_set, plateaued

__all__ = [
    "FLOOR_CLASSIFIER",
    "FLOOR_MAX_ITER",
    "FLOOR_TOLERANCE",
    "HISTORY_DECIMALS",
    "HISTORY_KEYS",
    "LINEAR_FLOOR_KINDS",
    "flat_images",
    "history_json",
    "linear_floor",
    "read_history",
    "run_criteria",
]

#: the per-epoch quantities kept in a stored history (rounded to :data:`HISTORY_DECIMALS`)
HISTORY_KEYS: tuple[str, ...] = ("epoch", "train_loss", "train_top1", "val_loss", "val_top1")
HISTORY_DECIMALS = 4
#: the linear classifier of :func:`linear_floor`: scikit-learn's L2 logistic regression (C = 1, lbfgs)
#: solved to a tight tolerance. Its objective is strictly convex, so the solution is unique and every
#: machine reaches the same one; at lbfgs's default tolerance (1e-4, about 380 iterations on 8,000
#: Fashion-MNIST training images, the floor of ``data/ch7_linear_floor.csv``) the fit stops early, where
#: the BLAS kernels and their thread count decide the last steps (measured: test top-1 82.48 on 2 threads
#: against 82.52 on 1). At 1e-8 (about 1,700 iterations, under a minute) 1 and 2 threads and OpenBLAS's
#: Nehalem kernels agree to the digit.
FLOOR_TOLERANCE = 1e-8
FLOOR_MAX_ITER = 10_000
FLOOR_CLASSIFIER = f"LogisticRegression(max_iter={FLOOR_MAX_ITER}, tol={FLOOR_TOLERANCE:g})"


def history_json(history: Iterable[Mapping[str, float]]) -> str:
    """A run's per-epoch history (epoch 0, the untrained model, included) as compact JSON: the
    :data:`HISTORY_KEYS` of every epoch, rounded to :data:`HISTORY_DECIMALS` decimals (what
    :func:`read_history` reads back)."""
    rows = []
    for h in history:
        row = {}
        for k in HISTORY_KEYS:
            value = h.get(k, math.nan)
            row[k] = None if value is None or not math.isfinite(float(value)) else round(float(value), HISTORY_DECIMALS)
        rows.append(row)
    return json.dumps(rows, separators=(",", ":"))


def read_history(text: Any) -> list[dict[str, float]]:
    """The history stored by :func:`history_json` (an empty list for a row stored without one)."""
    if text is None or (isinstance(text, float) and math.isnan(text)) or str(text).strip() == "":
        return []
    try:
        rows = json.loads(str(text))
    except json.JSONDecodeError as err:
        raise ValueError(
            f"an epoch history is not valid JSON ({err.msg} at character {err.pos}): rerun the row, "
            "or restore the file from git"
        ) from None
    return [{k: math.nan if v is None else float(v) for k, v in row.items()} for row in rows]


def run_criteria(
    history: Sequence[Mapping[str, float]],
    test_top1: float,
    floor: Mapping[str, float],
    *,
    train_top1: float | None = None,
) -> RunCriteria:
    """The criteria of one run from its per-epoch ``history`` (epoch 0 first, as stored), its test
    top-1 and the ``floor`` of its images (``train_top1`` and ``test_top1`` of :func:`linear_floor`).
    The fit is judged by ``train_top1`` when given and not missing (the eval-mode top-1 on the training
    images, the measure that matches the floor's), else by the last epoch's running training top-1 of
    ``history`` (train mode, which understates it)."""
    trained = [h for h in history if h.get("epoch", 0) >= 1]
    val = [h["val_top1"] for h in trained]
    gain = (
        float(np.mean(val[-PLATEAU_WINDOW:]) - np.mean(val[-2 * PLATEAU_WINDOW : -PLATEAU_WINDOW]))
        if len(val) >= 2 * PLATEAU_WINDOW
        else math.nan
    )
    if train_top1 is not None and pd.notna(train_top1):
        train = float(train_top1)
    else:
        train = float(trained[-1]["train_top1"]) if trained else math.nan
    return RunCriteria(
        plateaued=plateaued(val),
        fits_training_set=fits_training_set(train, floor["train_top1"]),
        above_floor=bool(test_top1 > floor["test_top1"]),
        val_gain_last_window_pp=gain,
        train_top1=train,
    )


def flat_images(dataset: Dataset) -> tuple[np.ndarray, np.ndarray]:
    """A dataset's images as one row of pixels each (the first channel of images whose channels are
    equal copies of one grey image, as the studies' resampled MNIST-like images are) and its labels."""
    items = [dataset[i] for i in range(len(dataset))]
    return np.stack([np.asarray(x)[0].ravel() for x, _ in items]), np.array([int(y) for _, y in items])


#: the kinds of the values :func:`linear_floor` stores (a floor store's columns beside its key)
LINEAR_FLOOR_KINDS = ColumnKinds(
    required=("classifier", "train_images", "test_images", "train_top1", "test_top1"),
    numeric=("train_images", "test_images", "train_top1", "test_top1"),
    ranges=(
        *ColumnKinds.within(COUNT, "train_images", "test_images"),
        *ColumnKinds.within(PERCENT, "train_top1", "test_top1"),
    ),
)


def linear_floor(train_set: Dataset, test_set: Dataset) -> dict[str, Any]:
    """Training and test top-1 (%) of a multinomial logistic regression (:data:`FLOOR_CLASSIFIER`)
    fitted to ``train_set``'s pixels (:func:`flat_images`: the same images, resampled as the study's
    networks see them, brought back to [0, 1] by the training pixels' global minimum and maximum, so
    that C = 1 regularises as it does on raw pixels whatever normalisation the study applies) and
    scored on ``test_set``: the floor every trained network of those images must beat (module
    docstring). Deterministic (lbfgs from zeros, to :data:`FLOOR_TOLERANCE`); float64 throughout."""
    x_train, y_train = flat_images(train_set)
    x_test, y_test = flat_images(test_set)
    low, high = float(x_train.min()), float(x_train.max())
    x_train, x_test = ((x.astype(np.float64) - low) / (high - low) for x in (x_train, x_test))
    model = LogisticRegression(max_iter=FLOOR_MAX_ITER, tol=FLOOR_TOLERANCE).fit(x_train, y_train)
    if model.n_iter_.max() >= FLOOR_MAX_ITER:
        raise RuntimeError(
            f"the linear floor did not converge in {FLOOR_MAX_ITER} lbfgs iterations (tol {FLOOR_TOLERANCE:g}): "
            "its accuracy would depend on the machine; raise FLOOR_MAX_ITER"
        )
    return {
        "classifier": FLOOR_CLASSIFIER,
        "train_images": len(y_train),
        "test_images": len(y_test),
        "train_top1": round(100 * float(model.score(x_train, y_train)), 2),
        "test_top1": round(100 * float(model.score(x_test, y_test)), 2),
    }
