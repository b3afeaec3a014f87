"""Whether the example input is one the model accepts: the policy of
:func:`reuseprior.counting.capture.capture` that a model is never counted on an input it
refuses.

The meta trace runs every shape check of the model's ops, so an example of the wrong
shape fails it; what it cannot see is an input refused for its values or for a dtype
that meta kernels do not check (a bool or half input to a float ``Linear``, an index out
of an embedding's range, a factorisation of a singular matrix).  Policy
(:func:`meta_trace_settles_input`): the model runs once eagerly on the example
(:func:`refuse_inputs_the_model_refuses`) unless the meta-traced graph shows that no
such refusal can happen: the example and every floating tensor of the graph have one
floating dtype, every op is one whose kernel refuses operands only for their shapes
and dtypes (:data:`SHAPE_CHECKED_OPS`), and every op that reads its operands as indices
(:data:`INDEX_READING_OPS`) reads none that depends on the example.  The eager run is a
full forward of the model, about half of what capturing cost with it
(``benchmarks/bench_analyze.py``), which is why it is spent only where the trace cannot
answer.
"""

from __future__ import annotations

import contextlib
import operator
import warnings

import torch
import torch.fx as fx
from torch import nn

from reuseprior.core.errors import InputRefusedError, raised_in_users_code
from reuseprior.counting.sequence_first import refuse_sequence_read_as_batch, sequence_first_inputs

__all__ = [
    "INDEX_READING_OPS",
    "MADE_FROM_SIZES",
    "SHAPE_CHECKED_OPS",
    "in_eval_mode",
    "meta_trace_settles_input",
    "refuse_inputs_the_model_refuses",
    "values_kept",
]

_aten = torch.ops.aten


def _packets(*groups: str) -> frozenset:
    """The ATen overload packets named in ``groups`` (names separated by spaces); a name this
    build of torch lacks is left out."""
    return frozenset(getattr(_aten, n) for group in groups for n in group.split() if hasattr(_aten, n))


#: ATen ops whose output values depend on their tensor operands' shapes only, never on their values
#: (tensors made from sizes alone): they refuse nothing for its values, and pass no count dependence on
MADE_FROM_SIZES = _packets(
    "empty zeros ones full arange new_zeros new_ones new_full new_empty",
    "zeros_like ones_like full_like empty_like fill fill_ zero zero_",
)

#: ATen ops whose eager kernels refuse an operand only for its shape or its dtype: the meta
#: trace has run their shape checks, and the one-dtype condition of
#: :func:`meta_trace_settles_input` stands in for the dtype checks that meta kernels skip.
#: An op not listed sends the model through its eager run.
SHAPE_CHECKED_OPS = (
    _packets(
        # products and convolutions
        "convolution conv1d conv2d conv3d mm addmm bmm baddbmm matmul linear",
        "addcmul addcdiv scaled_dot_product_attention im2col col2im",
        # elementwise arithmetic and activations
        "add add_ sub sub_ rsub mul mul_ div div_ neg pow sqrt rsqrt",
        "exp log abs sin cos erf reciprocal clamp clamp_ clamp_min clamp_min_",
        "clamp_max relu relu_ relu6 gelu gelu_ silu silu_ sigmoid sigmoid_",
        "tanh tanh_ hardswish hardswish_ hardsigmoid hardsigmoid_ hardtanh hardtanh_",
        "leaky_relu leaky_relu_ elu elu_ mish mish_ softplus prelu _prelu_kernel",
        "where masked_fill masked_fill_ eq ne lt le gt ge bitwise_not",
        "logical_not maximum minimum lerp",
        # normalisation, reductions, softmax
        "native_batch_norm _native_batch_norm_legit_no_training _native_batch_norm_legit batch_norm",
        "native_layer_norm layer_norm native_group_norm group_norm rms_norm _fused_rms_norm",
        "mean sum amax amin max min var std var_mean linalg_vector_norm norm",
        "cumsum _softmax softmax _log_softmax log_softmax",
        # pooling and resampling
        "max_pool2d_with_indices max_pool1d max_pool2d max_pool3d_with_indices avg_pool1d",
        "avg_pool2d avg_pool3d adaptive_avg_pool1d adaptive_avg_pool2d _adaptive_avg_pool2d",
        "adaptive_max_pool2d upsample_nearest2d upsample_bilinear2d upsample_bicubic2d",
        "_upsample_nearest_exact2d pixel_shuffle pixel_unshuffle constant_pad_nd reflection_pad2d",
        "replication_pad2d",
        # views, copies and layout
        "view _unsafe_view reshape permute transpose t expand squeeze unsqueeze",
        "flatten slice select split split_with_sizes unsafe_split chunk unbind",
        "contiguous clone alias detach as_strided as_strided_ cat stack repeat",
        "roll flip _to_copy copy_ slice_scatter select_scatter",
    )
    | MADE_FROM_SIZES
)

#: ATen ops that read an operand's values as indices: an index out of range is refused only
#: when the kernel runs, so such an op whose operand depends on the example sends the model
#: through its eager run (relative-position tables indexed by a buffer read no such operand).
INDEX_READING_OPS = _packets(
    "index index_select gather embedding take take_along_dim index_put index_put_",
    "scatter scatter_ scatter_add scatter_add_ scatter_reduce index_add index_copy",
    "index_fill",
)


def _depends_on(graph: fx.Graph, source: fx.Node) -> set[fx.Node]:
    """The nodes of ``graph`` whose values depend on ``source`` (itself included)."""
    reached = {source}
    for n in graph.nodes:
        if n.op == "call_function" and any(a in reached for a in n.all_input_nodes):
            reached.add(n)
    return reached


def _floating_dtypes(graph: fx.Graph) -> set[torch.dtype]:
    """The dtypes of the floating tensors that the nodes of ``graph`` hold."""
    found = set()
    for n in graph.nodes:
        val = n.meta.get("val")
        for t in val if isinstance(val, (tuple, list)) else (val,):
            if isinstance(t, torch.Tensor) and t.is_floating_point():
                found.add(t.dtype)
    return found


def meta_trace_settles_input(graph: fx.Graph, input_node: fx.Node, example_input: torch.Tensor) -> bool:
    """Whether the meta trace of ``graph`` already shows that the model accepts
    ``example_input`` (see the module docstring), so that its eager run can be spared."""
    if not example_input.is_floating_point() or _floating_dtypes(graph) != {example_input.dtype}:
        return False
    from_input = None
    for n in graph.nodes:
        if n.op != "call_function" or n.target is operator.getitem:
            continue
        packet = getattr(n.target, "overloadpacket", None)
        if packet in INDEX_READING_OPS:
            from_input = from_input if from_input is not None else _depends_on(graph, input_node)
            if any(a in from_input for a in n.all_input_nodes):
                return False
        elif packet not in SHAPE_CHECKED_OPS:
            return False
    return True


@contextlib.contextmanager
def in_eval_mode(model: nn.Module):
    """Run the body with every module of ``model`` in eval mode, and give each module
    back the mode it had (a model in training with one frozen submodule keeps it)."""
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


#: modules whose eval-mode forward changes their own weights in place: an embedding with
#: ``max_norm`` renormalises the rows it reads
_RENORMALISING = (nn.Embedding, nn.EmbeddingBag)


@contextlib.contextmanager
def values_kept(model: nn.Module):
    """Give back, on exit, the weights that the body's forward changed in place.

    Policy: the weights of the modules known to change them in an eval-mode forward
    (:data:`_RENORMALISING` with ``max_norm`` set) are copied before and put back after,
    so they are bit-identical; any other parameter or buffer whose version counter moved
    (a model's own in-place update) is named in a warning, since copying every weight of
    every model beforehand would cost a copy of the whole model on each call. Inference
    tensors, which keep no version counter, cannot be changed in place and are skipped."""
    renormalised = {
        id(m.weight): m.weight for m in model.modules() if isinstance(m, _RENORMALISING) and m.max_norm is not None
    }
    kept = [(t, t.detach().clone()) for t in renormalised.values()]
    named = [(n, t) for n, t in [*model.named_parameters(), *model.named_buffers()] if not t.is_inference()]
    versions = [(n, t, t._version) for n, t in named if id(t) not in renormalised]
    try:
        yield
    finally:
        with torch.no_grad():
            for t, copy in kept:
                t.copy_(copy)
        changed = [n for n, t, version in versions if t._version != version]
        if changed:
            warnings.warn(
                f"{type(model).__name__}'s forward changed {', '.join(changed)} in place while analyze ran it; "
                "their values are not given back",
                stacklevel=2,
            )


def refuse_inputs_the_model_refuses(model: nn.Module, example_input: torch.Tensor) -> None:
    """Policy: the model runs once, eagerly (eval mode, no gradients, on its parameters' device), on the
    example input before it is counted, so that an input it refuses (a wrong shape, an integer or bool
    input to a float model) is refused here with the model's own error instead of being counted. The
    model is left as it was: every module's mode, and its weights as :func:`values_kept` gives them
    back. The run also shows what each sequence-first module receives: one whose sequence it would
    read as the batch is refused (:func:`~reuseprior.counting.sequence_first.refuse_sequence_read_as_batch`)."""
    device = next(model.parameters(), example_input).device  # the model's (counting itself runs on the CPU)
    with torch.no_grad(), in_eval_mode(model), values_kept(model), sequence_first_inputs(model) as seen:
        err = _error_of_run(model, example_input.to(device))
    if err is not None:
        reason, where = (str(err).splitlines()[0] if str(err) else ""), raised_in_users_code(err)
        raise InputRefusedError(
            f"{type(model).__name__} does not accept an input of shape {tuple(example_input.shape)} (dtype "
            f"{example_input.dtype}), it does not run on it: {type(err).__name__}: {reason}{where}. Counts "
            "of a model that cannot run on its input mean nothing: pass an input it runs on (batch dimension 1, "
            "the sizes and dtype it expects: a float tensor such as torch.zeros(1, 3, 224, 224) for float weights)"
            + (", or, if the input is right, fix the model's code where it raised" if where else "")
        ) from err
    refuse_sequence_read_as_batch(model, example_input, seen)


def _error_of_run(model: nn.Module, x: torch.Tensor) -> Exception | None:
    """The error ``model(x)`` raises, or None when it runs (the set-up around the run is not in it)."""
    try:
        model(x)
    except Exception as err:  # noqa: BLE001 - the caller re-raises it with what to do
        return err
    return None
