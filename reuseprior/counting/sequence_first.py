"""Sequence-first modules (``batch_first=False``: ``nn.LSTM``, ``nn.GRU``, ``nn.RNN``,
``nn.MultiheadAttention`` and ``nn.Transformer*`` layers by default) and the one example.

Such a module reads a 3-D input as ``(sequence, batch, features)``.  The counts are per
example, with the example's batch in dimension 0 of the model's input, so:

* given one example as ``(1, T, E)`` directly, a sequence-first module reads ``T``
  examples of length 1 (every position its own sequence: no attention or recurrence
  across positions).  :func:`refuse_sequence_read_as_batch` refuses that, by the shape
  each sequence-first module receives in the model's eager run
  (:func:`sequence_first_inputs`): sequences of length 1 in a batch of several.  A model
  that transposes before the module, ``T == 1``, and a model that folds longer windows
  into the module's batch on purpose (window or axial attention: sequences of length
  above 1) are counted;
* given ``(T, 1, E)``, the counting reads ``T`` examples: the batch refusal of
  :mod:`reuseprior.counting.sweep` names the fix, :func:`batch_first_fix`.

Either fix: the module rebuilt with ``batch_first=True`` given ``(1, T, E)``, or a wrapper
whose forward transposes around it.
"""

from __future__ import annotations

import contextlib

import torch
from torch import nn

__all__ = ["batch_first_fix", "refuse_sequence_read_as_batch", "sequence_first_inputs", "sequence_first_modules"]


def sequence_first_modules(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The modules of ``model`` (itself included, as ``""``) that read a 3-D input as
    ``(sequence, batch, features)``: those with ``batch_first`` set to ``False``."""
    return [(path, m) for path, m in model.named_modules() if getattr(m, "batch_first", None) is False]


def _where(path: str, module: nn.Module, model: nn.Module) -> str:
    """``path (Module) of Model``, or ``Model`` for the model itself."""
    return f"{path} ({type(module).__name__}) of {type(model).__name__}" if path else type(model).__name__


def batch_first_fix(model: nn.Module, shape: tuple[int, ...]) -> str | None:
    """The fix for an input of ``shape`` whose dimension 0 may be a sequence, read by the
    counting as a batch: ``None`` unless ``model`` has a sequence-first module and the input
    is 3-D."""
    found = sequence_first_modules(model)
    if not found or len(shape) != 3:
        return None
    path, module = found[0]
    return (
        f"x.transpose(0, 1) (shape {(shape[1], shape[0], *shape[2:])}) to the model rebuilt with "
        f"batch_first=True if dimension 0 is a sequence: {_where(path, module, model)} is sequence-first "
        "(batch_first=False), so its batch is dimension 1"
    )


@contextlib.contextmanager
def sequence_first_inputs(model: nn.Module):
    """Record, while the body runs ``model``, the shape of the first tensor each
    sequence-first module receives: yields a dict ``path -> shape`` (first call only)."""
    seen: dict[str, tuple[int, ...]] = {}
    handles = []
    for path, module in sequence_first_modules(model):

        def note(_module, args, kwargs, path=path):
            first = next((a for a in (*args, *kwargs.values()) if isinstance(a, torch.Tensor)), None)
            if first is not None and path not in seen:
                seen[path] = tuple(first.shape)

        handles.append(module.register_forward_pre_hook(note, with_kwargs=True))
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def refuse_sequence_read_as_batch(
    model: nn.Module, example_input: torch.Tensor, seen: dict[str, tuple[int, ...]]
) -> None:
    """Policy: an example of batch 1 whose sequence a sequence-first module reads as its batch
    (its 3-D input is a batch of several sequences of length 1: dimension 0 is 1, dimension 1
    above 1) is refused with a ``ValueError`` naming the module and the fixes: it would be
    counted as that many examples of length 1. Sequences of length above 1 are what the model
    gives the module (windows folded into its batch), and are counted."""
    if not seen or example_input.dim() == 0 or example_input.shape[0] != 1:
        return  # a batch of several is refused once the outputs show it (batch_first_fix)
    modules = dict(model.named_modules())
    for path, shape in seen.items():
        if len(shape) == 3 and shape[0] == 1 and shape[1] > 1:
            where = _where(path, modules[path], model)
            raise ValueError(
                f"{where} is sequence-first (batch_first=False) and is given an input of shape {shape}, whose "
                f"dimension 1 it reads as the batch: the example (shape {tuple(example_input.shape)}) would be "
                f"counted as {shape[1]} examples of length {shape[0]}, with no path between its positions. "
                "Build the model with batch_first=True (the argument of the layer that holds the module, e.g. "
                "nn.TransformerEncoderLayer(..., batch_first=True); the same parameters load with "
                "load_state_dict), or analyse it through a wrapper whose forward transposes around it "
                "(forward(self, x): return self.model(x.transpose(0, 1)).transpose(0, 1))"
            )
