"""Capture an ``nn.Module`` as an ATen-level FX graph whose placeholders are named tensors.

Two tracers produce the same kind of graph (parameters, buffers and the input are
placeholders, so every use of a parameter, including tied parameters used several
times and parameter-only sub-graphs such as Swin-V2's continuous position-bias MLP, is
an explicit edge):

* ``"meta"`` (default, fast): one eval-mode forward of
  ``functional_call(model, (params, buffers), (x,))`` on *meta* tensors under a
  ``TorchDispatchMode`` that records every ATen op (no arithmetic, no proxies).
  In-place ops become new nodes; in-place ops on slice/select views are functionalised
  into ``slice_scatter``/``select_scatter``.  ``F.scaled_dot_product_attention`` is
  recorded as one ``aten.scaled_dot_product_attention`` op (:func:`_fused_attention`),
  as ``make_fx`` keeps it fused, so that its rule reads ``is_causal`` and ``attn_mask``.
* ``"make_fx"`` (fallback): functionalised ``make_fx`` fake-tensor tracing.

Dropout and stochastic depth disappear in eval mode.

Before a graph is returned, two policies hold: a graph whose counting cannot fit in
this machine's memory is refused with the figure (nothing real has been computed
yet), and an input the model itself refuses is not counted
(:mod:`reuseprior.counting.input_check`: the model runs once eagerly on the example
unless the meta trace already settles it; a ``ValueError`` with the model's own error,
and nothing else: the tracers' logs of a failed attempt are silenced), nor an example
whose sequence a sequence-first module reads as its batch
(:mod:`reuseprior.counting.sequence_first`).  Capturing leaves the model as it was:
every module's train/eval mode, and its parameters and buffers bit for bit.

What is captured (:func:`eager_module`): an ``nn.Module`` that runs eagerly.  A
``torch.compile`` d model (``OptimizedModule``) is captured as the module it wraps
(``_orig_mod``: compiling does not change the ops, only how they run), under that
module's name and parameter names; a TorchScript module (``torch.jit.script`` or
``torch.jit.trace``) is refused with :class:`CaptureError` (pass the eager module).
The example input is one tensor: a shape, a NumPy array or several tensors are
refused with a ``TypeError`` naming the fix, and a model whose forward needs more
than one input with a ``ValueError`` naming the wrapper that splits one tensor.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import keyword
import logging
import operator
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
from torch import nn
from torch.fx.experimental.proxy_tensor import make_fx
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode, _disable_current_modes
from torch.utils._pytree import tree_flatten, tree_map

from reuseprior.core.errors import CaptureError, DataDependentShapeError
from reuseprior.core.memory import gib, physical_memory_bytes
from reuseprior.counting.input_check import (
    MADE_FROM_SIZES,
    in_eval_mode,
    meta_trace_settles_input,
    refuse_inputs_the_model_refuses,
)
from reuseprior.counting.input_memory import SMALLER_INPUT
from reuseprior.counting.meta_shortcuts import META_SHORTCUTS
from reuseprior.counting.sequence_first import refuse_sequence_read_as_batch, sequence_first_inputs

__all__ = [
    "CaptureError",
    "CapturedGraph",
    "DataDependentShapeError",
    "capture",
    "eager_module",
    "least_memory",
    "refuse_what_cannot_fit",
]


@dataclass
class CapturedGraph:
    """An ATen FX graph plus the mapping from placeholders to parameters/buffers/input.

    ``graph`` is what the counting reads; ``root`` holds the constants its ``get_attr`` nodes
    name. The runnable :attr:`gm` is built on first use only: generating and compiling its
    Python code costs about a tenth of an ``analyze`` call, and the counting never runs it."""

    graph: fx.Graph
    root: nn.Module
    model: nn.Module
    param_nodes: dict[str, fx.Node]  # parameter name -> placeholder
    buffer_nodes: dict[str, fx.Node]
    input_node: fx.Node
    output_nodes: list[fx.Node]
    real_inputs: dict[fx.Node, torch.Tensor]
    example_input: torch.Tensor
    _values: dict[fx.Node, Any] = field(default_factory=dict, repr=False)
    #: the nodes whose real values a counting rule asked for (not their ancestors,
    #: which are evaluated on the way): the sweep warns when one of them depends
    #: on the values of the example input
    read_nodes: set[fx.Node] = field(default_factory=set, repr=False)
    #: the shape of the first tensor each sequence-first module received in the meta forward
    #: (:func:`~reuseprior.counting.sequence_first.sequence_first_inputs`); ``None`` for a graph
    #: that ``make_fx`` traced, whose input the model's eager run checks
    sequence_first_shapes: dict[str, tuple[int, ...]] | None = field(default=None, repr=False)

    @functools.cached_property
    def gm(self) -> fx.GraphModule:
        """The graph as a runnable ``fx.GraphModule`` (built on first use)."""
        return self.root if isinstance(self.root, fx.GraphModule) else fx.GraphModule(self.root, self.graph)

    def real_value(self, node: Any) -> Any:
        """Evaluate ``node`` on the real parameters/buffers/input (lazily, memoised).

        Used only for non-count operands such as integer index tensors (Swin relative
        position indices, gather/index arguments) and attention masks, whose values
        fake tracing does not keep.
        The node (or each node of a list) is recorded in :attr:`read_nodes`.
        """
        for a in node if isinstance(node, (list, tuple)) else (node,):
            if isinstance(a, fx.Node):
                self.read_nodes.add(a)
        return self._evaluate(node)

    def _evaluate(self, node: Any) -> Any:
        if not isinstance(node, fx.Node):
            if isinstance(node, (list, tuple)):
                return type(node)(self._evaluate(a) for a in node)
            return node
        if node in self._values:
            return self._values[node]
        if node.op == "placeholder":
            val = self.real_inputs[node].detach().cpu()  # counting always runs on the CPU
        elif node.op == "get_attr":
            val = getattr(self.root, node.target)
            val = val.cpu() if isinstance(val, torch.Tensor) else val
        elif node.op == "call_function":
            args = torch.fx.node.map_arg(node.args, self._evaluate)
            kwargs = torch.fx.node.map_arg(node.kwargs, self._evaluate)
            if isinstance(kwargs.get("device"), torch.device) and kwargs["device"].type == "meta":
                kwargs = {**kwargs, "device": torch.device("cpu")}  # ``.to(x.device)`` traced on meta tensors
            with torch.no_grad():
                val = node.target(*args, **kwargs)
        else:  # pragma: no cover - make_fx graphs have no call_module/call_method
            raise CaptureError(f"cannot evaluate node {node.format_node()}")
        self._values[node] = val
        return val


@contextlib.contextmanager
def _kept_parameters(model: nn.Module):
    """Restore every module's own parameter and buffer entries on exit.

    ``torch.func.functional_call`` swaps the model's tensors and swaps them back,
    but a module installed at several paths (a scope-shared model ties modules by
    identity) comes back holding plain tensors in place of its ``nn.Parameter`` s,
    which would drop them from ``model.parameters()``; this puts the originals
    back."""
    saved = [(m, dict(m._parameters), dict(m._buffers)) for m in model.modules()]
    try:
        yield
    finally:
        for m, params, buffers in saved:
            m._parameters.clear()
            m._parameters.update(params)
            m._buffers.clear()
            m._buffers.update(buffers)


def _model_name(model: nn.Module) -> str:
    return type(model).__name__


def capture(model: nn.Module, example_input: torch.Tensor, *, method: str = "auto") -> CapturedGraph:
    """Trace ``model(example_input)`` into an ATen graph (see module docstring).

    ``method``: ``"meta"`` records the ATen ops of one forward pass on meta tensors with a
    ``TorchDispatchMode`` (fast: no arithmetic, no proxy machinery); ``"make_fx"`` uses
    functionalised ``make_fx`` fake tracing (slower, handles mutation through views);
    ``"auto"`` (default) tries ``"meta"`` and falls back to ``"make_fx"``.

    ``model`` goes through :func:`eager_module` first (a compiled model is captured as
    the module it wraps; a TorchScript module is refused).

    Raises
    ------
    TypeError
        if ``model`` is no ``nn.Module`` or ``example_input`` no tensor (a shape, an
        array, several tensors), naming the fix.
    ValueError
        if ``example_input`` has the wrong shape/dtype for the model, the model's
        forward needs more than one input, or a sequence-first module reads the example's
        sequence as its batch.
    CaptureError
        if the model cannot be traced (data-dependent Python control flow, a
        TorchScript module, ...).
    """
    model = eager_module(model)
    _check_example_input_type(example_input)
    if method not in ("auto", "meta", "make_fx"):
        raise ValueError(f"method must be 'auto', 'meta' or 'make_fx', got {method!r}")
    _refuse_forwards_of_several_inputs(model)
    graph = _trace(model, example_input, method)
    _refuse_what_cannot_fit(graph)
    _refuse_inputs_the_graph_cannot_settle(graph)
    return graph


def _refuse_inputs_the_graph_cannot_settle(graph: CapturedGraph) -> None:
    """The input policy of :mod:`reuseprior.counting.input_check`: a meta-traced graph that
    settles the example (:func:`~reuseprior.counting.input_check.meta_trace_settles_input`) is
    checked by the shapes its sequence-first modules received; any other runs the model eagerly."""
    model, example_input = graph.model, graph.example_input
    shapes = graph.sequence_first_shapes
    if shapes is not None and meta_trace_settles_input(graph.graph, graph.input_node, example_input):
        refuse_sequence_read_as_batch(model, example_input, shapes)
    else:
        refuse_inputs_the_model_refuses(model, example_input)


def eager_module(model: object) -> nn.Module:
    """The eager ``nn.Module`` that :func:`capture` traces for ``model``: ``model`` itself,
    or, for a ``torch.compile`` d model (``OptimizedModule``), the module it wraps
    (``_orig_mod``; compiling changes how the ops run, not which ops run), so that it is
    counted under its own name and parameter names without being compiled.

    Raises ``TypeError`` for anything but an ``nn.Module`` (naming ``build_model`` for a
    name) and :class:`CaptureError` for a TorchScript module, whose forward cannot be
    traced at the ATen level nor hooked: pass the eager module it was scripted from."""
    if not isinstance(model, nn.Module):
        hint = f"; for a model by name use reuseprior.models.build_model({model!r})" if isinstance(model, str) else ""
        if isinstance(model, type) and issubclass(model, nn.Module):
            hint = f" (the class itself); pass an instance of it, {model.__name__}(...)"
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}{hint}")
    while type(model).__name__ == "OptimizedModule" and isinstance(getattr(model, "_orig_mod", None), nn.Module):
        model = model._orig_mod
    if isinstance(model, torch.jit.ScriptModule):
        raise CaptureError(
            f"cannot capture the TorchScript module {type(model).__name__} ({getattr(model, 'original_name', '?')}): "
            "torch.jit.script and torch.jit.trace compile the forward into TorchScript, which is neither traced at "
            "the ATen level nor hooked; pass the eager nn.Module it was made from (the model before "
            "torch.jit.script(model) or torch.jit.trace(model, x))"
        )
    return model


def _check_example_input_type(example_input: object) -> None:
    """Policy: ``example_input`` is one tensor; anything else is refused with a ``TypeError`` that names
    what was given and the fix: a shape (ints, ``torch.Size``) is no tensor (``torch.zeros(1, *shape)``),
    a NumPy array is converted with ``torch.from_numpy``, one tensor in a list is passed alone, and
    several tensors are the inputs of a model analysed through a wrapper that splits one tensor."""
    if isinstance(example_input, torch.Tensor):
        return
    given = type(example_input).__name__
    head = f"example_input must be one torch.Tensor with a leading batch dimension of 1, got {given}"
    items = list(example_input.values()) if isinstance(example_input, dict) else example_input
    if isinstance(items, (tuple, list)) and items and all(isinstance(d, int) for d in items):
        shape = tuple(items)
        fix = f"torch.zeros{(1, *shape)} (torch.zeros(1, *shape)) if it is the shape of one example"
        if shape[0] == 1 and len(shape) > 1:
            fix += f", or torch.zeros{shape} if it already starts with the batch dimension"
        raise TypeError(f"{head}, the shape {shape}, not a tensor: pass a tensor, {fix}")
    if type(example_input).__module__ == "numpy":
        raise TypeError(f"{head}: convert it with torch.from_numpy(x) (and add a batch dimension of 1 if it has none)")
    if isinstance(items, (tuple, list)) and len(items) == 1 and isinstance(items[0], torch.Tensor):
        raise TypeError(f"{head} of one tensor: pass the tensor itself, example_input=x[0]")
    if isinstance(items, (tuple, list)) and len(items) > 1 and all(isinstance(t, torch.Tensor) for t in items):
        raise TypeError(
            f"{head} of {len(items)} tensors: a model with several inputs is analysed through a wrapper module "
            "whose forward takes one tensor and splits it into the inputs (e.g. forward(self, z): return "
            "self.model(z[:, :n], z[:, n:])), given torch.cat of the inputs along dimension 1"
        )
    raise TypeError(f"{head}: pass one tensor, e.g. torch.zeros(1, 3, 224, 224) for an image model")


def _required_inputs(model: nn.Module) -> list[str]:
    """The arguments of ``model``'s forward that a call must give (positional ones without a default and
    keyword-only ones without a default); empty where the signature cannot be read."""
    try:
        params = inspect.signature(model.forward).parameters.values()
    except (TypeError, ValueError):  # a builtin or C forward: nothing to read
        return []
    needed = (
        inspect.Parameter.POSITIONAL_ONLY,
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
    )
    return [p.name for p in params if p.kind in needed and p.default is inspect.Parameter.empty]


def _refuse_forwards_of_several_inputs(model: nn.Module) -> None:
    """Policy: the model is called with one tensor, so a forward that needs more than one argument is
    refused (``ValueError``) before anything runs, naming its arguments and the wrapper that splits one
    tensor into them."""
    needed = [] if model._forward_pre_hooks else _required_inputs(model)  # a pre-hook may add the others
    if len(needed) > 1:
        raise ValueError(
            f"the forward of {_model_name(model)} needs {len(needed)} inputs ({', '.join(needed)}), but it is "
            "called with one example_input tensor: analyse it through a wrapper module whose forward takes one "
            "tensor and splits it into the inputs (e.g. forward(self, z): return self.model(z[:, :n], z[:, n:])), "
            "or one that fixes the other inputs (forward(self, x): return self.model(x, self.y))"
        )


def _trace(model: nn.Module, example_input: torch.Tensor, method: str) -> CapturedGraph:
    """The graph of ``method`` (``"auto"``: meta, else ``make_fx``); nothing real is computed unless a
    tracer fails, when the model runs eagerly to tell an input it refuses (``ValueError``, its own
    error) from a forward that cannot be traced."""
    if method in ("auto", "meta"):
        try:
            return _capture_meta(model, example_input)
        except Exception:  # noqa: BLE001 - fall back to the robust tracer
            if method == "meta":
                refuse_inputs_the_model_refuses(model, example_input)
                raise
    return _capture_make_fx(model, example_input)


@contextlib.contextmanager
def _quiet_fake_tensors():
    """Silence the error log of fake-tensor dispatch while ``make_fx`` traces: an op that fails on fake
    tensors (an input of the wrong shape) is logged with a traceback before it is raised, and the
    failure is re-raised here with what to do."""
    logger = logging.getLogger("torch._subclasses.fake_tensor")
    was_disabled = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = was_disabled


def _elements(value: object) -> int:
    """Elements of the tensors in a node's value (0 for a size tracing could not fix)."""
    if isinstance(value, torch.Tensor):
        try:
            return int(value.numel())
        except Exception:  # noqa: BLE001 - a data-dependent (symbolic) size
            return 0
    if isinstance(value, (list, tuple)):
        return sum(_elements(v) for v in value)
    return 0


def least_memory(graph: CapturedGraph) -> tuple[int, fx.Node | None]:
    """A lower bound of the bytes that counting ``graph`` needs, and the op that sets it: the op whose
    operands and result hold the most elements, 8 bytes each (the counts are float64; the model's own
    forward needs as many elements at once)."""
    most, where = 0, None
    for n in graph.graph.nodes:
        if n.op == "call_function":
            held = _elements(n.meta.get("val")) + sum(_elements(a.meta.get("val")) for a in n.all_input_nodes)
            if held > most:
                most, where = held, n
    return 8 * most, where


def _refuse_what_cannot_fit(graph: CapturedGraph) -> None:
    """Policy: before anything real is computed, a graph whose counting needs more than this machine's
    physical memory (:func:`least_memory`, a lower bound) is refused with both figures."""
    needed, where = least_memory(graph)
    memory = physical_memory_bytes()
    if memory is None or needed <= memory or where is None:
        return
    shape = tuple(graph.example_input.shape)
    raise CaptureError(
        f"cannot count {_model_name(graph.model)} on an input of shape {shape}: it needs at least {gib(needed)} of "
        f"memory (node {where.name}, {where.target}: {_elements(where.meta.get('val')):,} elements and its operands, "
        f"8 bytes each) and this machine has {gib(memory)}; {SMALLER_INPUT}"
    )


def refuse_what_cannot_fit(model: nn.Module, input_shape: tuple[int, ...], dtype: torch.dtype = torch.float32) -> None:
    """The memory policy of :func:`capture` for an input of ``input_shape`` that has not been allocated
    yet: the model is traced on a meta input (nothing allocated) and refused with :class:`CaptureError`
    when counting it cannot fit. A model that cannot be traced so is left to :func:`capture`."""
    try:
        graph = _capture_meta(eager_module(model), torch.empty(input_shape, dtype=dtype, device="meta"))
    except Exception:  # noqa: BLE001 - capture() names what is wrong with the model
        return
    _refuse_what_cannot_fit(graph)


def _capture_make_fx(model: nn.Module, example_input: torch.Tensor) -> CapturedGraph:
    """Functionalised ``make_fx`` fake-tensor tracing of ``model(example_input)`` (every module in
    eval mode, each given its own mode back)."""
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    p_names, b_names = list(params), list(buffers)
    n_p, n_b = len(p_names), len(b_names)

    def f(*flat):
        p = dict(zip(p_names, flat[:n_p]))
        b = dict(zip(b_names, flat[n_p : n_p + n_b]))
        return torch.func.functional_call(model, (p, b), (flat[-1],))

    flat_inputs = [t.detach() for t in params.values()] + [t.detach() for t in buffers.values()]
    flat_inputs.append(example_input.detach())
    try:
        with in_eval_mode(model), _kept_parameters(model), _quiet_fake_tensors():
            gm = make_fx(torch.func.functionalize(f), tracing_mode="fake")(*flat_inputs)
    except Exception as exc:  # noqa: BLE001 - re-raised with context
        msg = str(exc).split("\n")[0]
        refuse_inputs_the_model_refuses(model, example_input)  # does the plain model run on this input at all?
        raise CaptureError(
            f"could not capture {_model_name(model)} as an ATen graph: {type(exc).__name__}: {msg}. "
            "Possible fixes: make the forward free of data-dependent Python control flow, "
            "call the model on the example input once to check it runs, or wrap the "
            "problematic part in a module whose forward uses only tensor operations."
        ) from exc

    placeholders = [n for n in gm.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != len(flat_inputs):  # pragma: no cover - defensive
        raise CaptureError("placeholder count does not match the flattened inputs")
    param_nodes = dict(zip(p_names, placeholders[:n_p]))
    buffer_nodes = dict(zip(b_names, placeholders[n_p : n_p + n_b]))
    input_node = placeholders[-1]
    out_node = next(n for n in gm.graph.nodes if n.op == "output")
    outs = [a for a in torch.utils._pytree.tree_leaves(out_node.args[0]) if isinstance(a, fx.Node)]
    real_inputs = dict(zip(placeholders, flat_inputs))
    return CapturedGraph(
        graph=gm.graph,
        root=gm,
        model=model,
        param_nodes=param_nodes,
        buffer_nodes=buffer_nodes,
        input_node=input_node,
        output_nodes=outs,
        real_inputs=real_inputs,
        example_input=example_input,
    )


# ------------------------------------------------------------------------------ meta recorder
class _Unsafe(RuntimeError):
    pass


_aten = torch.ops.aten


def _identifier(name: str) -> str:
    """``name`` (a parameter's or buffer's) as a Python identifier: FX compiles placeholders into the
    arguments of a generated ``forward``. Non-word characters become ``_``, and a name that still is no
    identifier (a top-level ``nn.Sequential``'s ``0.weight``) gets a ``p_`` prefix: ``p_0_weight``."""
    ident = re.sub(r"\W", "_", name)
    return ident if ident.isidentifier() and not keyword.iskeyword(ident) else f"p_{ident}"


@functools.lru_cache(maxsize=None)
def _writes_into_an_argument(func) -> bool:
    """Whether the op's schema marks an argument as written (an in-place or ``out=`` op)."""
    schema = getattr(func, "_schema", None)
    return schema is not None and any(a.alias_info is not None and a.alias_info.is_write for a in schema.arguments)


class _MetaGraphBuilder:
    """The state of one recording on meta tensors: the FX graph being built, the node
    of every tensor seen so far (by ``id``), the real tensors behind the placeholders,
    and the nodes whose values depend on a parameter."""

    def __init__(self) -> None:
        self.graph = fx.Graph()
        self.root = nn.Module()
        self.node_of: dict[int, fx.Node] = {}
        self.keep: list = []  # strong refs so that ids are never reused while recording
        self.real_inputs: dict[fx.Node, torch.Tensor] = {}
        self.param_dep: set[fx.Node] = set()
        self.n_const = 0
        self.arguments: set[str] = set()  # the placeholders' targets: the generated forward's argument names

    def add_placeholder(self, name: str, real: torch.Tensor, is_param: bool) -> torch.Tensor:
        """Add a placeholder for ``real`` (a parameter, a buffer or the input); returns
        the meta tensor that stands for it in the forward."""
        target = _identifier(name)
        while target in self.arguments:  # two names that read alike as identifiers (``a_b.c``, ``a.b_c``)
            target += "_"
        self.arguments.add(target)
        n = self.graph.placeholder(target)
        meta_t = torch.empty(real.shape, dtype=real.dtype, device="meta")
        n.meta["val"] = meta_t
        self.node_of[id(meta_t)] = n
        self.keep.append(meta_t)
        self.real_inputs[n] = real.detach()
        if is_param:
            self.param_dep.add(n)
        return meta_t

    def to_node(self, a):
        """The node of tensor ``a``; a real tensor seen for the first time (a constant
        created inside the forward) becomes a ``get_attr`` node.  Non-tensors pass."""
        if isinstance(a, torch.Tensor):
            n = self.node_of.get(id(a))
            if n is None:
                if a.device.type == "meta":
                    raise _Unsafe("meta tensor of unknown origin")
                name = f"_const{self.n_const}"
                self.n_const += 1
                setattr(self.root, name, a)
                n = self.graph.get_attr(name)
                n.meta["val"] = a
                self.node_of[id(a)] = n
                self.keep.append(a)
            return n
        return a

    def _nodes_of(self, value: Any, operands: list[fx.Node]) -> Any:
        """``value`` (an op's argument: a tensor, a list or tuple of arguments, or anything else)
        with every tensor replaced by its node (:meth:`to_node`), each node also appended to
        ``operands``; ATen arguments nest no deeper than lists, so no pytree walk is needed."""
        if isinstance(value, torch.Tensor):
            node = self.to_node(value)
            operands.append(node)
            return node
        if isinstance(value, (list, tuple)):
            return type(value)(self._nodes_of(v, operands) for v in value)
        return value

    def record(self, func, args: tuple, kwargs: dict, out: Any) -> None:
        """Add the node of one dispatched op call ``out = func(*args, **kwargs)``."""
        operands: list[fx.Node] = []
        n_args = tuple(self._nodes_of(a, operands) for a in args)
        n_kwargs = {k: self._nodes_of(v, operands) for k, v in kwargs.items()}
        node = self.graph.call_function(func, n_args, n_kwargs)
        node.meta["val"] = out
        self.keep.append(out)
        deps = self._depends_on_params(func, operands)
        if deps:
            self.param_dep.add(node)
        self._functionalise_view_mutation(func, args, n_args, node, deps)
        self._bind_outputs(node, out, deps)

    def _depends_on_params(self, func, operands: list[fx.Node]) -> bool:
        """Whether the op's values depend on a parameter: an operand does, and the op
        reads its operands' values (not only their shapes, see ``MADE_FROM_SIZES``)."""
        return getattr(func, "overloadpacket", None) not in MADE_FROM_SIZES and any(
            a in self.param_dep for a in operands
        )

    def _functionalise_view_mutation(self, func, args: tuple, n_args, node: fx.Node, deps: bool) -> None:
        """An op that writes into a view of a tensor (``y[:, :2] += 1``) changes the
        viewed tensor too: when either depends on a parameter, scatter the new values
        back up the view chain (:meth:`_write_back`)."""
        if _writes_into_an_argument(func) and isinstance(args[0], torch.Tensor) and args[0]._base is not None:
            base = args[0]._base
            base_node = self.node_of.get(id(base))
            if deps or (base_node is not None and base_node in self.param_dep):
                self._write_back(node, n_args[0], base, deps)

    def _write_back(self, new_view: fx.Node, view_node: fx.Node, base: torch.Tensor, deps: bool) -> None:
        """Functionalise an in-place op on a slice/select view: scatter the new view
        values back into fresh copies of every tensor up the view chain.  Views of
        any other kind raise :class:`_Unsafe` (``capture`` then uses ``make_fx``)."""
        cur_view, cur_new = view_node, new_view
        while True:
            if not (isinstance(cur_view, fx.Node) and cur_view.op == "call_function"):
                raise _Unsafe("in-place op on a view of unknown origin")
            packet = getattr(cur_view.target, "overloadpacket", None)
            parent = cur_view.args[0]
            if packet is _aten.slice:
                a = list(cur_view.args[1:]) + [0, None, None, 1][len(cur_view.args) - 1 :]
                scat = self.graph.call_function(_aten.slice_scatter.default, (parent, cur_new, *a[:4]))
            elif packet is _aten.select:
                scat = self.graph.call_function(_aten.select_scatter.default, (parent, cur_new, *cur_view.args[1:]))
            else:
                raise _Unsafe(f"in-place op through a {cur_view.target} view")
            scat.meta["val"] = parent.meta["val"]
            if deps or parent in self.param_dep:
                self.param_dep.add(scat)
                deps = True
            cur_view, cur_new = parent, scat
            if self.node_of.get(id(base)) is parent:
                self.node_of[id(base)] = scat
                return

    def _bind_outputs(self, node: fx.Node, out: Any, deps: bool) -> None:
        """Make ``node`` the node of the op's output tensor; each tensor of a tuple or
        list output gets its own ``getitem`` node.  An in-place op returns the tensor
        it changed, which from then on stands for the new node."""
        if isinstance(out, (tuple, list)):
            for i, o in enumerate(out):
                if isinstance(o, torch.Tensor):
                    g = self.graph.call_function(operator.getitem, (node, i))
                    g.meta["val"] = o
                    if deps:
                        self.param_dep.add(g)
                    self.node_of[id(o)] = g
        elif isinstance(out, torch.Tensor):
            self.node_of[id(out)] = node


class _Recorder(TorchDispatchMode):
    """Runs every ATen op of the forward (on meta tensors: no arithmetic) and records
    it with a :class:`_MetaGraphBuilder`; an op of
    :data:`~reuseprior.counting.meta_shortcuts.META_SHORTCUTS` gets its result from its
    shortcut where that answers."""

    def __init__(self, builder: _MetaGraphBuilder) -> None:
        super().__init__()
        self.builder = builder

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        shortcut = META_SHORTCUTS.get(func)  # a result known without the op's Python meta kernel
        out = shortcut(args, kwargs) if shortcut is not None else None
        if out is None:
            out = func(*args, **kwargs)
        self.builder.record(func, args, kwargs, out)
        return out


#: held while ``torch.nn.functional.scaled_dot_product_attention`` is replaced (:func:`_fused_attention`)
_ATTENTION_PATCH_LOCK = threading.RLock()
#: the attention function that the meta tracer records as one op (:func:`_fused_attention`)
_SDPA_FUNCTION = torch._C._nn.scaled_dot_product_attention


def _record_attention(builder: _MetaGraphBuilder, args: tuple, kwargs: dict) -> Any:
    """``F.scaled_dot_product_attention(*args, **kwargs)`` on meta tensors, recorded as
    one ``aten.scaled_dot_product_attention`` node with its arguments as given (the
    math kernel's own ops are not recorded); attention on tensors none of which is a
    meta tensor (constants) runs as usual."""
    args, kwargs = list(args), dict(kwargs)
    for name in ("query", "key", "value")[len(args) :]:  # by position, as the rule reads them
        if name in kwargs:
            args.append(kwargs.pop(name))
    args = tuple(args)
    if not any(isinstance(t, torch.Tensor) and t.device.type == "meta" for t in args[:3]):
        return _SDPA_FUNCTION(*args, **kwargs)

    def on_meta(t):
        return t.to("meta") if isinstance(t, torch.Tensor) else t

    with torch._C.DisableTorchFunction(), _disable_current_modes():  # no mode sees the math kernel
        out = _SDPA_FUNCTION(*tree_map(on_meta, args), **tree_map(on_meta, kwargs))
    builder.record(_aten.scaled_dot_product_attention.default, tuple(args), dict(kwargs), out)
    return out


class _AttentionCalls(TorchFunctionMode):
    """Sends the calls of ``F.scaled_dot_product_attention`` made from the model's own
    code to :func:`_record_attention`; every other function runs as usual."""

    def __init__(self, builder: _MetaGraphBuilder) -> None:
        super().__init__()
        self.builder = builder

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is _SDPA_FUNCTION:
            return _record_attention(self.builder, tuple(args), kwargs or {})
        return func(*args, **(kwargs or {}))


@contextlib.contextmanager
def _fused_attention(builder: _MetaGraphBuilder):
    """Record scaled dot-product attention as one op while the meta forward runs.

    Policy: both tracers hand attention to the counting rule as one fused op, whose
    rule reads ``is_causal`` and ``attn_mask``.  On meta tensors the dispatcher picks
    the math kernel, which :class:`_Recorder` would see only as its decomposition
    (matrix products, an additive mask, a softmax), where the mask is a value that no
    rule reads; ``make_fx`` keeps the fused kernel it picks on the CPU.  A call from the
    model's code is caught by :class:`_AttentionCalls`; a call from inside a function of
    ``torch.nn.functional`` that handles torch functions itself
    (``F.multi_head_attention_forward``, which ``nn.MultiheadAttention`` and the
    ``nn.Transformer`` layers run) is not seen by a function mode, so that module's
    ``scaled_dot_product_attention`` is replaced for the forward's duration. The
    replacement is process-wide, so meta forwards hold :data:`_ATTENTION_PATCH_LOCK`:
    two threads' captures run one after the other, and each puts back what it found; a
    call in another thread on real tensors runs the original function."""
    functional = torch.nn.functional

    def recorded(*args, **kwargs):
        return _record_attention(builder, args, kwargs)

    with _ATTENTION_PATCH_LOCK:
        original = functional.scaled_dot_product_attention
        functional.scaled_dot_product_attention = recorded
        try:
            with _AttentionCalls(builder):
                yield
        finally:
            functional.scaled_dot_product_attention = original


def _forward_on_meta(
    model: nn.Module, builder: _MetaGraphBuilder, p_meta: dict, b_meta: dict, x_meta: torch.Tensor
) -> tuple[Any, dict[str, tuple[int, ...]]]:
    """One eval-mode forward of ``functional_call(model, (params, buffers), (x,))`` on
    the meta stand-ins, recorded by ``builder`` (attention as one op,
    :func:`_fused_attention`); every module's mode is restored. Returns the output and the
    shape each sequence-first module received (:func:`sequence_first_inputs`)."""
    with torch.no_grad(), in_eval_mode(model), _kept_parameters(model), sequence_first_inputs(model) as seen:
        with _Recorder(builder), _fused_attention(builder):
            return torch.func.functional_call(model, (p_meta, b_meta), (x_meta,)), seen


def _capture_meta(model: nn.Module, example_input: torch.Tensor) -> CapturedGraph:
    """Record one eval-mode forward on meta tensors into an FX graph of ATen ops.

    Parameters, buffers and the input become placeholders (in that order), each op
    call a node.  In-place ops become nodes whose result replaces the mutated tensor;
    an in-place op on a *view* where the view or its base depends on a parameter is
    functionalised into ``slice_scatter`` / ``select_scatter`` when the view is a
    slice or select, and rejected otherwise (``capture`` then falls back to
    functionalised ``make_fx``).
    """
    params = dict(model.named_parameters())
    buffers = dict(model.named_buffers())
    builder = _MetaGraphBuilder()
    p_meta = {k: builder.add_placeholder(k, v, True) for k, v in params.items()}
    b_meta = {k: builder.add_placeholder("buf_" + k, v, False) for k, v in buffers.items()}
    x_meta = builder.add_placeholder("input", example_input, False)
    # the placeholders, read before the forward rebinds tensors that in-place ops change
    param_nodes = {k: builder.node_of[id(v)] for k, v in p_meta.items()}
    buffer_nodes = {k: builder.node_of[id(v)] for k, v in b_meta.items()}
    input_node = builder.node_of[id(x_meta)]
    y, sequence_first_shapes = _forward_on_meta(model, builder, p_meta, b_meta, x_meta)
    leaves = [builder.to_node(t) for t in tree_flatten(y)[0] if isinstance(t, torch.Tensor)]
    builder.graph.output(tuple(leaves))
    return CapturedGraph(
        graph=builder.graph,
        root=builder.root,
        model=model,
        param_nodes=param_nodes,
        buffer_nodes=buffer_nodes,
        input_node=input_node,
        output_nodes=leaves,
        real_inputs=builder.real_inputs,
        example_input=example_input,
        sequence_first_shapes=sequence_first_shapes,
    )
