"""Model size and compute, the naive baselines of thesis chapter 6: #parameters and FLOPs.

Policy:

- #parameters is :func:`reuseprior.core.parameters.count_parameters`, the
  package's one counter (each tensor once however many modules hold it;
  trainable tensors only unless ``trainable_only=False``).
- FLOPs are those of one forward pass on the given example in eval mode
  without autograd, 2 per multiply-add of the convolutions, matrix products
  and attention (its input and output projections included); elementwise
  operations, normalisation, softmax, pooling and resampling (upsampling and
  interpolation, bilinear included) are not counted. They are
  counted by :class:`torch.utils.flop_counter.FlopCounterMode` with formulas
  for the fused ops that PyTorch runs in eval mode without autograd and that
  its registry lacks (:data:`EXTRA_FLOP_FORMULAS`: ``nn.MultiheadAttention``'s
  and ``nn.TransformerEncoderLayer``'s fast paths, and the oneDNN layer that
  runs ``nn.LSTM``, ``nn.GRU`` and ``nn.RNN`` on the CPU). A compute-heavy op that
  runs without a formula (a matrix product, convolution, attention or
  recurrent op) raises :class:`~reuseprior.core.errors.UncountedOpError`
  instead of counting as zero. The model's train/eval mode is restored
  afterwards.

On NAS-Bench-201 cells this counts the convolutions (stem, the cells' 1x1
and 3x3 convolutions, the reduction blocks) and the classifier; the
benchmark's own FLOPs also count pooling, so the two differ by a fixed amount
per pooling edge while ranking the cells almost alike.
"""

from __future__ import annotations

import contextlib
import re
from typing import Callable

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode, flop_registry

from reuseprior.core.errors import UncountedOpError
from reuseprior.core.parameters import count_parameters

__all__ = ["EXTRA_FLOP_FORMULAS", "UncountedOpError", "attention_flops", "count_flops", "count_parameters"]

aten = torch.ops.aten


def attention_flops(batch: int, q_len: int, kv_len: int, embed: int, k_dim: int, v_dim: int) -> int:
    """FLOPs of one multi-head attention block with its projections: the
    query, key and value projections (``q_len x embed @ embed x embed``,
    ``kv_len x k_dim @ k_dim x embed``, ``kv_len x v_dim @ v_dim x embed``),
    ``Q K^T`` and ``A V`` over all heads (``q_len x kv_len x embed`` each) and
    the output projection (``q_len x embed @ embed x embed``); 2 per multiply-add."""
    projections = q_len * embed * embed + kv_len * k_dim * embed + kv_len * v_dim * embed + q_len * embed * embed
    return 2 * batch * (projections + 2 * q_len * kv_len * embed)


def _batch_length_features(shape) -> tuple[int, int, int]:
    """``(batch, length, features)`` of a batched (3-d) or unbatched (2-d) sequence."""
    if len(shape) == 3:
        return shape[0], shape[1], shape[2]
    if len(shape) == 2:
        return 1, shape[0], shape[1]
    raise ValueError(f"an attention input of shape {tuple(shape)}: expected (batch, length, features)")


def _native_multi_head_attention_flop(query, key, value, embed_dim, *args, out_shape=None, **kwargs) -> int:
    """``aten._native_multi_head_attention``: ``nn.MultiheadAttention``'s fast path
    (batch first; arguments arrive as shapes)."""
    batch, q_len, _ = _batch_length_features(query)
    _, kv_len, k_dim = _batch_length_features(key)
    _, _, v_dim = _batch_length_features(value)
    return attention_flops(batch, q_len, kv_len, int(embed_dim), k_dim, v_dim)


def _transformer_encoder_layer_flop(
    src,
    embed_dim,
    num_heads,
    qkv_weight,
    qkv_bias,
    proj_weight,
    proj_bias,
    use_gelu,
    norm_first,
    eps,
    norm_weight_1,
    norm_bias_1,
    norm_weight_2,
    norm_bias_2,
    ffn_weight_1,
    *args,
    out_shape=None,
    **kwargs,
) -> int:
    """``aten._transformer_encoder_layer_fwd``: ``nn.TransformerEncoderLayer``'s fast
    path, self-attention plus the feed-forward ``E -> F -> E`` (``ffn_weight_1``
    has shape ``(F, E)``; arguments arrive as shapes)."""
    batch, length, features = _batch_length_features(src)
    attention = attention_flops(batch, length, length, int(embed_dim), features, features)
    return attention + 2 * batch * length * 2 * int(embed_dim) * int(ffn_weight_1[0])


def _mkldnn_rnn_layer_flop(input, weight0, weight1, *args, out_shape=None, **kwargs) -> int:
    """``aten.mkldnn_rnn_layer``: one direction of one layer of ``nn.LSTM``, ``nn.GRU`` or ``nn.RNN``
    on the CPU (arguments arrive as shapes). Every weight of the input projection (``weight0``: gates x
    input features) and of the hidden one (``weight1``: gates x hidden size) multiplies once per example
    and step, as the products of the layer run without oneDNN count: 2 per multiply-add."""
    examples_times_steps = 1
    for size in input[:-1]:
        examples_times_steps *= int(size)
    weights = int(weight0[0]) * int(weight0[1]) + int(weight1[0]) * int(weight1[1])
    return 2 * examples_times_steps * weights


#: formulas of fused ops the stock registry lacks, keyed by overload packet as the registry is
EXTRA_FLOP_FORMULAS: dict[object, Callable[..., int]] = {
    aten._native_multi_head_attention: _native_multi_head_attention_flop,
    aten._transformer_encoder_layer_fwd: _transformer_encoder_layer_flop,
    aten.mkldnn_rnn_layer: _mkldnn_rnn_layer_flop,
}

#: names of ops that do multiply-add work: one of them without a formula is an error
_HEAVY_OP = re.compile(r"(mm|conv|attention|matmul|einsum|linear|transformer|rnn|lstm|gru|_mha)", re.IGNORECASE)
#: resampling ops, not counted by the policy although a name may say "linear" (``upsample_bilinear2d``)
_RESAMPLING_OP = re.compile(r"(upsample|interp|grid_sampler|resize)", re.IGNORECASE)


class _OpsSeen(TorchDispatchMode):
    """Records the overload packet of every op that runs."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[object] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.seen.add(func._overloadpacket)
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def _parameters_frozen(model: nn.Module):
    """Run the body with no parameter of ``model`` requiring gradients, and give each its flag back.

    ``FlopCounterMode`` tracks modules by hooking the gradients of their tensor arguments that
    require them; a parameter handed to a submodule as an argument (a latent query, a class token)
    has no gradient function under ``no_grad``, and the hook fails on it. With the flags off there
    is nothing to hook, and the ops and their FLOPs are the same."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


def count_flops(model: nn.Module, example: torch.Tensor) -> float:
    """FLOPs of one forward pass of ``model`` on ``example`` (2 per multiply-add;
    the policy is the module's)."""
    was_training = model.training
    model.eval()
    ops = _OpsSeen()
    try:
        counter = FlopCounterMode(display=False, custom_mapping=EXTRA_FLOP_FORMULAS)
        with torch.no_grad(), _parameters_frozen(model), counter, ops:
            model(example)
    finally:
        model.train(was_training)
    known = set(flop_registry) | set(EXTRA_FLOP_FORMULAS)
    uncounted = sorted(
        str(op)
        for op in ops.seen
        if op not in known and _HEAVY_OP.search(str(op)) and not _RESAMPLING_OP.search(str(op))
    )
    if uncounted:
        raise UncountedOpError(
            f"ops without a FLOP formula ran: {uncounted}; they would count as 0. Add a formula to "
            "reuseprior.baselines.complexity.EXTRA_FLOP_FORMULAS (torch.utils.flop_counter's convention)"
        )
    return float(counter.get_total_flops())
