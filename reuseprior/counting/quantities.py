"""Chapter-4 quantities from context counts: expected spread, entropy, total surprisal,
PG and P'G (thesis eqs. 4.2-4.8) and the chapter-5 efficiencies PE, CE (eqs. 5.1, 5.2).

Definitions (thesis sections 4.4.3, 4.4.5 and 5.2.2; all logarithms base 2), with
``c_i = |C_wi|`` the context count of weight ``i`` (eq. 4.1):

* ``p_i = c_i / NC`` (eq. 4.3) with ``NC = sum_i c_i`` over the ``NG`` merged weights
  with count >= 1 (a weight element with count 0, such as a 3x3 corner tap on a 1x1
  map, has no context and is left out of ``NG``, ``WG`` and ``|G|``);
* expected spread ``ES = sum_i p_i log2 c_i`` (eq. 4.2);
* entropy ``H = -sum_i p_i log2 p_i`` (eq. 4.4), and ``H + ES = log2 NC`` (eq. 4.6);
* total surprisal ``S = -sum_i log2 p_i = NG log2 NC - sum_i log2 c_i`` (eq. 4.5);
* ``|G| = NI + NO + WG``: input, output and weight nodes (eq. 4.7); ``WG`` counts
  the weight nodes before merging (every use of a shared weight), so ``WG >= NG``;
  feature nodes are not counted.  A weight generated from stored parameters (a
  channel-wise kernel bank, a Shapeshifter store) counts once per use, element by
  element, and the edges inside its generator not at all: ``WG`` of a shared model
  is that of its materialized copy, while ``NG`` counts the stored parameters
  (:mod:`reuseprior.counting.sweep` states the policy);
* ``PG = log2(S NI / |G|)`` (eq. 4.7), ``P'G = log2((ES + 1) NG NI / |G|)`` (eq. 4.8);
* ``PE = PG / NG`` (eq. 5.1), ``CE = PG / WG`` (eq. 5.2).

Every computation is done in the log domain, so counts of ``2**3000`` are fine.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable

import numpy as np
import pandas as pd
import torch
from torch import nn

from reuseprior.core.errors import OutputKeyError
from reuseprior.core.exact_sums import exp2_each, pairwise_sum
from reuseprior.core.validation import check_integer
from reuseprior.counting.capture import CapturedGraph, capture, eager_module
from reuseprior.counting.scaled import Scaled
from reuseprior.counting.sweep import SweepResult, check_discount, check_example_input, run_sweep

__all__ = ["REPORT_KEYS", "WeightUse", "Report", "analyze", "count_contexts", "quantities_from_log2_counts"]

aten = torch.ops.aten

#: what a report says under a PG of ``-inf`` (and PE, CE with it)
DEGENERATE_PG = (
    "PG = -inf: the total surprisal S is 0, which happens only when one merged weight holds every context "
    "(NG = 1), so log2(S NI / |G|) has no finite value; P'G (eq. 4.8) stays finite and ranks such a model"
)


@dataclass(frozen=True)
class WeightUse:
    """One use of a parameter in the graph, passed to ``share_key`` functions."""

    param_name: str
    module_name: str
    module: nn.Module | None
    op: str  # "conv", "linear", "matmul", "batch_norm", "bias", "other"
    shape: tuple[int, ...]
    stride: tuple[int, ...] | None = None
    padding: tuple[int, ...] | None = None
    dilation: tuple[int, ...] | None = None
    groups: int | None = None
    use_index: int = 0


#: the model-level quantities of a :class:`Report`, in the order of :meth:`Report.to_dict`
REPORT_KEYS = [
    "PG",
    "PG_prime",
    "expected_spread",
    "entropy",
    "total_surprisal",
    "NG",
    "WG",
    "NI",
    "NO",
    "G",
    "log2_NC",
    "PE",
    "CE",
]


@dataclass
class Report:
    """Model-level quantities of chapter 4 (bits).  See the module docstring.

    The attributes hold the values as computed, ``-inf`` included: a model with one
    merged weight (``NG = 1``) has ``S = 0``, so ``PG = log2 0 = -inf`` and so are
    ``PE`` and ``CE``.  :meth:`to_dict` is the JSON-ready record (a non-finite value
    becomes ``None``, as in :meth:`reuseprior.analysis.compare.Comparison.records`);
    :meth:`to_series` keeps the numbers."""

    PG: float
    PG_prime: float
    expected_spread: float
    entropy: float
    total_surprisal: float
    NG: int
    WG: int
    NI: int
    NO: int
    G: int
    log2_NC: float
    PE: float
    CE: float
    model_name: str = ""
    input_shape: tuple[int, ...] = ()
    discount: float = 1.0
    per_parameter: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, float | int | None]:
        """The quantities of :data:`REPORT_KEYS` as a JSON-ready dict: ``json.dumps`` writes it as strict
        JSON, with a non-finite value (``PG``, ``PE``, ``CE`` of a model with ``NG = 1``: ``-inf``) as
        ``None`` (``null``), the policy of :meth:`reuseprior.analysis.compare.Comparison.records`.  The numbers
        themselves, ``-inf`` included, are the attributes and :meth:`to_series`."""
        return {k: _json_number(getattr(self, k)) for k in REPORT_KEYS}

    def to_series(self) -> pd.Series:
        """The quantities of :data:`REPORT_KEYS` as numbers (``-inf`` kept; counts stay integers, so the
        dtype is ``object``), named after the model."""
        return pd.Series({k: getattr(self, k) for k in REPORT_KEYS}, name=self.model_name or None, dtype=object)

    def to_frame(self) -> pd.DataFrame:
        """Per-parameter summary as a DataFrame (numel, elements with a context, log2 counts)."""

        return pd.DataFrame.from_dict(self.per_parameter, orient="index")

    def __str__(self) -> str:
        labels = {
            "PG": "PG (eq. 4.7)",
            "PG_prime": "P'G (eq. 4.8)",
            "expected_spread": "expected spread ES (eq. 4.2)",
            "entropy": "entropy H (eq. 4.4)",
            "total_surprisal": "total surprisal S (eq. 4.5)",
            "NG": "NG (merged weights)",
            "WG": "WG (weight nodes)",
            "NI": "NI (input nodes)",
            "NO": "NO (output nodes)",
            "G": "|G| = NI + NO + WG",
            "log2_NC": "log2 NC",
            "PE": "PE = PG/NG (eq. 5.1)",
            "CE": "CE = PG/WG (eq. 5.2)",
        }
        head = f"Context-count analysis of {self.model_name or 'model'}"
        if self.input_shape:
            head += f" on input {tuple(self.input_shape)}"
        if self.discount != 1.0:
            head += f" (discount {self.discount:g})"
        lines = [head, "-" * len(head)]
        for k in REPORT_KEYS:
            v = getattr(self, k)
            s = f"{v:,}" if isinstance(v, int) else (f"{v:.6g}" if abs(v) < 1e-3 else f"{v:,.4f}")
            lines.append(f"{labels[k]:<32} {s:>20}")
        if not math.isfinite(self.PG):
            lines.append(DEGENERATE_PG)
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        return self.to_series().to_frame("value").to_html()


def _json_number(value: float | int) -> float | int | None:
    """``value`` as a JSON number: a non-finite float as ``None``."""
    return None if isinstance(value, (float, np.floating)) and not math.isfinite(value) else value


# ------------------------------------------------------------------------------ quantities
def quantities_from_log2_counts(
    log2_counts: np.ndarray,
    multiplicity: np.ndarray | None = None,
    *,
    NI: int,
    NO: int,
    WG: int,
) -> dict[str, float | int]:
    """Compute the chapter-4 quantities from log2 counts of the merged weights.

    ``log2_counts`` must be finite (zero counts already removed); ``multiplicity`` gives
    how many weights share each entry (e.g. 4 per batch-norm channel).  Every sum is taken in
    one fixed order (:func:`~reuseprior.core.exact_sums.pairwise_sum`: NumPy's pairwise order, by
    elementwise additions) and every ``exp2`` is the C library's
    (:func:`~reuseprior.core.exact_sums.exp2_each`; NumPy's own takes another implementation under
    AVX-512), so the quantities have the same bits on every CPU, those the stored rows hold.
    """
    l = np.asarray(log2_counts, dtype=np.float64)
    mult = np.ones_like(l) if multiplicity is None else np.asarray(multiplicity, dtype=np.float64)
    NG = int(round(pairwise_sum(mult)))
    if NG == 0:
        raise ValueError("no weight has a context (all counts are zero): nothing to analyse")
    M = float(l.max())
    z = pairwise_sum(mult * exp2_each(l - M))
    log2_NC = M + math.log2(z)
    p = exp2_each(l - log2_NC)
    ES = pairwise_sum(mult * p * l)
    H = pairwise_sum(mult * p * (log2_NC - l))
    S = float(NG * log2_NC - pairwise_sum(mult * l))
    G = int(NI) + int(NO) + int(WG)
    PG = math.log2(S * NI / G) if S > 0 else float("-inf")
    PGp = math.log2((ES + 1.0) * NG * NI / G)
    return {
        "PG": PG,
        "PG_prime": PGp,
        "expected_spread": ES,
        "entropy": H,
        "total_surprisal": S,
        "NG": NG,
        "WG": int(WG),
        "NI": int(NI),
        "NO": int(NO),
        "G": G,
        "log2_NC": log2_NC,
        "PE": PG / NG,
        "CE": PG / WG if WG else float("nan"),
    }


# ------------------------------------------------------------------------------ model output
def _describe_output(out: object) -> str:
    def shape(v: object) -> str:
        return f"tensor {tuple(v.shape)}" if isinstance(v, torch.Tensor) else type(v).__name__

    if isinstance(out, Mapping):
        items = ", ".join(f"{k!r}: {shape(v)}" for k, v in out.items())
        return f"a {type(out).__name__} {{{items}}}"
    if isinstance(out, (tuple, list)):
        fields = getattr(out, "_fields", None)
        names = fields if fields else range(len(out))
        items = ", ".join(f"{n!r}: {shape(v)}" for n, v in zip(names, out))
        return f"a {type(out).__name__} of {len(out)} entries [{items}]"
    return f"a {type(out).__name__}"


def _pick(out: object, key: str | int) -> object:
    """``out[key]`` of a dict, tuple/list (an index; digits given as text count) or named tuple."""
    if isinstance(out, Mapping):
        return out[key]
    if isinstance(out, (tuple, list)):
        if isinstance(key, str) and key in (getattr(out, "_fields", None) or ()):
            return getattr(out, key)
        return out[int(key)]
    raise TypeError(type(out).__name__)


def _capture_one_output(
    model: nn.Module | CapturedGraph, example_input: torch.Tensor, output_key: str | int | None
) -> CapturedGraph:
    """Capture ``model`` with its output reduced to one tensor (the policy of
    :func:`analyze`): a forward that returns one tensor needs no ``output_key``;
    one that returns a dict, tuple or list needs ``output_key`` naming the entry
    to count paths to.  Anything else raises ``OutputKeyError`` (a ``ValueError``)
    naming the output's structure and the fix.  The selection is a forward hook on ``model`` (removed
    afterwards), so parameter names and every count of a one-tensor model are
    those of the model itself."""
    if isinstance(model, CapturedGraph):  # already captured: its outputs are fixed
        if output_key is not None:
            raise OutputKeyError(
                "output_key selects an output of an nn.Module's forward; pass the module, not a CapturedGraph"
            )
        return model
    model = eager_module(model)  # a compiled model's own module; TypeError / CaptureError naming the fix
    seen: dict[str, object] = {}

    def select(module: nn.Module, args: tuple, out: object) -> object:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
        seen["structure"] = None if isinstance(out, torch.Tensor) else _describe_output(out)
        if output_key is None or isinstance(out, torch.Tensor):
            return None
        try:
            picked = _pick(out, output_key)
        except (KeyError, IndexError, TypeError, ValueError):
            seen["missing"] = True
            return None
        seen["picked"] = None if isinstance(picked, torch.Tensor) else _describe_output(picked)
        return picked if isinstance(picked, torch.Tensor) else None

    handle = model.register_forward_hook(select)
    try:
        graph = capture(model, example_input)
    finally:
        handle.remove()
    name = type(model).__name__
    structure = seen.get("structure")
    if structure is None and output_key is not None:
        raise OutputKeyError(
            f"output_key={output_key!r} was given, but the forward of {name} returns one tensor; "
            "drop output_key (--output-key), it only selects an entry of a dict, tuple or list output"
        )
    if structure is not None and output_key is None:
        raise OutputKeyError(
            f"the forward of {name} returns {structure}, not one tensor; the context counts depend on which "
            "outputs the paths end at, so name one: analyze(..., output_key=KEY) or --output-key KEY "
            "(a dict key, or an index of a tuple/list), or wrap the model so that its forward returns one tensor"
        )
    if seen.get("missing"):
        raise OutputKeyError(
            f"output_key={output_key!r} is not an entry of the output of {name}, which is {structure}; "
            "give one of its keys (a dict) or indices (a tuple/list)"
        )
    if seen.get("picked") is not None:
        raise OutputKeyError(
            f"output_key={output_key!r} selects {seen['picked']} of {name}'s output, not one tensor; "
            "wrap the model so that its forward returns the tensor to analyse"
        )
    return graph


# ------------------------------------------------------------------------------ public API
def count_contexts(
    model: nn.Module, example_input: torch.Tensor, *, discount: float = 1.0, output_key: str | int | None = None
) -> dict[str, torch.Tensor]:
    """log2 of the number of contexts ``|C_w|`` of every parameter element (thesis eq. 4.1).

    ``|C_w|`` is the number of paths in the neuron-level graph from the node using ``w``
    to any output node, summed over every use of ``w`` (tied parameters sum over uses).

    With ``discount = gamma`` each path is weighted by ``gamma**L``, where the path length
    ``L`` is the number of weighted hops on the path *after* the op that uses ``w``: every
    convolution, dense layer (``mm``/``addmm``), batched matmul or attention product the
    path passes through from one of its feature operands to its output.  The op consuming
    ``w`` itself is not counted, so the last layer's weights have ``L = 0``;
    add/concat/pool/normalisation/activation edges have length 0.  ``gamma = 1`` gives
    the plain count.

    The forward must return one tensor; for a dict, tuple or list output,
    ``output_key`` names the entry whose elements are the output nodes (see
    :func:`analyze`).

    ``example_input`` is one example (batch dimension 1) and ``discount`` a finite
    number > 0, as for :func:`analyze`, which says what else is refused or warned
    about.

    Returns ``{name: float64 tensor}`` with the parameter's shape, ``-inf`` where the
    element has no context (e.g. the corner taps of a 3x3 kernel on a 1x1 map).
    """
    check_discount(discount)
    check_example_input(example_input)
    res = run_sweep(_capture_one_output(model, example_input, output_key), example_input, discount=discount)
    out = {}
    for name, p in res.graph.model.named_parameters():
        s = res.param_counts.get(name)
        if s is None:
            out[name] = torch.full(tuple(p.shape), float("-inf"), dtype=torch.float64)
        else:
            out[name] = s.log2().reshape(tuple(p.shape)).contiguous()
    return out


def _use_info(res: SweepResult, use) -> dict[str, Any]:
    consumer = use.consumer
    base = getattr(consumer.target, "overloadpacket", consumer.target)
    info: dict[str, Any] = {"op": "other"}
    # which argument position of the consumer holds our parameter chain?
    pos = None
    for i, a in enumerate(consumer.args):
        if a is use.user or (use.user is consumer and a is res.graph.param_nodes.get(use.param_name)):
            pos = i
            break
    if base is aten.convolution:
        if pos == 2:
            info["op"] = "bias"
        else:
            a = consumer.args
            info.update(op="conv", stride=tuple(a[3]), padding=tuple(a[4]), dilation=tuple(a[5]), groups=int(a[8]))
    elif base in (aten.addmm, aten.baddbmm):
        info["op"] = "bias" if pos == 0 else "linear"
    elif base is aten.mm:
        info["op"] = "linear"
    elif base in (aten.bmm, aten.matmul):
        info["op"] = "matmul"
    elif base in (
        aten.native_batch_norm,
        aten._native_batch_norm_legit_no_training,
        aten._native_batch_norm_legit,
        aten._native_batch_norm_legit_functional,
    ):
        info["op"] = "batch_norm"
    elif base in (aten.add,):
        info["op"] = "bias"
    return info


def _merge_into(target: Scaled | None, s: Scaled, shape: tuple[int, ...]) -> Scaled:
    m = s.mantissa
    if tuple(m.shape) != shape:
        if m.dim() != len(shape):
            raise ValueError(
                f"share_key merged uses of different ranks ({tuple(m.shape)} vs {shape}); "
                "return different keys for them"
            )
        z = torch.zeros(shape, dtype=torch.float64)
        z[tuple(slice(0, d) for d in m.shape)] = m
        m = z
    s2 = Scaled(m, s.exponent)
    return s2 if target is None else target + s2


def _joined(logs: list[np.ndarray], mults: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The groups' log2 counts and multiplicities as one array each (each list emptied once joined)."""
    all_l = np.concatenate(logs) if logs else np.zeros(0)
    logs.clear()
    all_m = np.concatenate(mults) if mults else np.zeros(0)
    mults.clear()
    return all_l, all_m


def analyze(
    model: nn.Module,
    example_input: torch.Tensor,
    *,
    num_inputs: int | None = None,
    num_outputs: int | None = None,
    bn_params_per_channel: int = 4,
    share_key: Callable[[WeightUse], Hashable | None] | None = None,
    discount: float = 1.0,
    output_key: str | int | None = None,
) -> Report:
    """Count contexts in ``model`` and derive the chapter-4 quantities (section 4.5.1).

    ``num_inputs``/``num_outputs`` default to the input/output element counts without the
    batch dimension.  Batch norm contributes ``bn_params_per_channel`` weights per channel
    (gamma, beta, running mean and variance), each with count = sum over positions of the
    output count; they are never merged.  ``share_key`` maps each :class:`WeightUse` to a
    key: uses with equal non-``None`` keys are merged element-wise by index (leading-slice
    alignment when shapes differ) and their counts summed; uses of one real (tied)
    parameter are always merged.  Elements with zero count are left out of NG and WG.
    A shared model is analysed as built: a parameter that generates weights (a
    channel-wise kernel bank, a parameter store and its coefficients) receives the
    counts of every weight it generates, through the generator's ops; the generated
    weights are weight nodes (``WG``) and the stored parameters the merged weights
    (``NG``), see :mod:`reuseprior.counting.sweep`.

    The output nodes are the elements of the one tensor that the forward returns.
    A forward returning a dict, tuple or list is refused with a ``ValueError``
    unless ``output_key`` names the entry to analyse (a dict key, a tuple/list
    index, or a named-tuple field): the counts depend on which outputs the paths
    end at, so that choice is the caller's.

    ``example_input`` is one example: a real tensor with a leading batch dimension of
    1, whose outputs keep it.  A batch of several is refused with a ``ValueError``
    (the counts are per example; the message names ``x[:1]``, ``x.unsqueeze(0)`` for
    an unbatched example, ``batch_first=True``), and so are an empty or complex input,
    one the model does not run on, and a ``discount`` outside ``0 < discount < inf``;
    :func:`~reuseprior.counting.capture.capture` names more (a shape for a tensor, a
    forward of several inputs, a TorchScript module; a compiled model counts as its
    module, a sequence read as a batch), and ``NG = 0`` (no weight reaches the output) is refused.

    Counts follow the graph's structure, so they normally depend only on the input's
    shape.  Two exceptions:

    * an op whose output *shape* depends on the data (boolean-mask indexing
      ``x[mask]``, ``masked_select``, ``nonzero``, ``unique``) between a parameter
      and the outputs cannot be counted:
      :class:`~reuseprior.counting.capture.DataDependentShapeError` names it;
      rewrite it with a fixed shape (``torch.where(mask, x, 0)`` or ``x * mask``);
    * an index or mask computed from the input's *values* decides which elements
      receive counts: ``nn.Embedding`` (and ``gather``/``index_select``/indexing
      by the input) counts only the rows that the example's token ids pick, so two
      inputs of one shape can give different counts.  Such counts are computed for
      the given input and flagged with a
      :class:`~reuseprior.counting.sweep.DataDependentCountWarning`: count on a
      representative input.
    """
    check_discount(discount)
    check_example_input(example_input)
    _check_sizes(num_inputs, num_outputs, bn_params_per_channel)
    res = run_sweep(_capture_one_output(model, example_input, output_key), example_input, discount=discount)
    mdl = res.graph.model
    entries = _weight_uses(res, dict(mdl.named_modules()))
    groups = _share_groups(res, entries, share_key)
    WG = _weight_node_count(entries, res)
    logs, mults = _merged_log2_counts(res, groups)
    bn_logs, bn_mults, bn_nodes = _batch_norm_log2_counts(res, bn_params_per_channel)
    logs, mults, WG = logs + bn_logs, mults + bn_mults, WG + bn_nodes
    per_param = _per_parameter_summary(mdl, res)
    NI, NO = _input_output_nodes(example_input, res, num_inputs, num_outputs)
    del res, entries  # the counts, before the concatenated copies (a store of 36 M values: 0.3 GB each)
    _refuse_nothing_to_analyse(mdl, mults, output_key, bn_params_per_channel)
    q = quantities_from_log2_counts(*_joined(logs, mults), NI=NI, NO=NO, WG=WG)
    return Report(
        **q,
        model_name=type(mdl).__name__,
        input_shape=tuple(example_input.shape),
        discount=discount,
        per_parameter=per_param,
    )


# ------------------------------------------------------------------------------ analyze, step by step
def _refuse_nothing_to_analyse(
    mdl: nn.Module, mults: list[np.ndarray], output_key: str | int | None, bn_params_per_channel: int
) -> None:
    """Policy: a model none of whose weights has a context (``NG = 0``) is refused with a ``ValueError``
    that names it and the likely cause: it has no parameters, or its output does not depend on them
    (a parameter-free head chosen by ``output_key``, a ``.detach()`` or a constant on the way, batch
    norm left out by ``bn_params_per_channel=0``)."""
    if any(len(m) for m in mults):
        return
    name = type(mdl).__name__
    size = sum(p.numel() for p in mdl.parameters())
    if size == 0:
        raise ValueError(
            f"{name} has no parameters, so no weight has a context: nothing to analyse; the quantities are those "
            "of a model's weights, so pass a model with parameters (nn.ReLU, nn.Identity and other "
            "parameter-free modules have none)"
        )
    causes = ["its output does not depend on them (a .detach(), a constant or a parameter-free branch returned)"]
    if output_key is not None:
        causes.insert(0, f"output_key={output_key!r} chooses an output that no parameter reaches: choose another")
    if bn_params_per_channel == 0:
        causes.append("bn_params_per_channel=0 leaves out the weights of batch norm, which may be its only ones")
    raise ValueError(
        f"no weight of {name} has a context (its {size:,} parameter elements have no path to the output): nothing "
        "to analyse. Likely: " + "; or ".join(causes)
    )


def _check_sizes(num_inputs: int | None, num_outputs: int | None, bn_params_per_channel: int) -> None:
    """Refuse a ``num_inputs``/``num_outputs`` below 1 and a ``bn_params_per_channel``
    below 0, or any of them not an integer (NumPy integers, as in table rows, count)."""
    for name, value, least in [
        ("num_inputs", num_inputs, 1),
        ("num_outputs", num_outputs, 1),
        ("bn_params_per_channel", bn_params_per_channel, 0),
    ]:
        if value is not None:  # NumPy integers (table rows) count as integers here
            check_integer(name, int(value) if isinstance(value, numbers.Integral) else value, least)


def _weight_uses(res: SweepResult, modules: dict[str, nn.Module]) -> list[tuple[WeightUse, Scaled]]:
    """Every use of a parameter that is a weight node of its own, with the count it
    received, in sweep order, as a :class:`WeightUse` (what ``share_key`` sees).
    Batch-norm parameters are left out (batch norm is counted per channel,
    :func:`_batch_norm_log2_counts`), and so are the edges inside a weight generator
    (their parameter's weight nodes are the generated weights,
    :func:`_weight_node_count`)."""
    bn_param_names = _batch_norm_parameters(res)
    use_counter: dict[str, int] = {}
    entries = []  # (WeightUse, Scaled)
    for u in res.uses:
        if u.internal or u.param_name in bn_param_names:
            continue
        info = _use_info(res, u)
        if info["op"] == "batch_norm":
            continue
        idx = use_counter.get(u.param_name, 0)
        use_counter[u.param_name] = idx + 1
        mod_name = u.param_name.rsplit(".", 1)[0] if "." in u.param_name else ""
        wu = WeightUse(
            param_name=u.param_name,
            module_name=mod_name,
            module=modules.get(mod_name),
            op=info["op"],
            shape=tuple(u.count.shape),
            stride=info.get("stride"),
            padding=info.get("padding"),
            dilation=info.get("dilation"),
            groups=info.get("groups"),
            use_index=idx,
        )
        entries.append((wu, u.count))
    return entries


def _batch_norm_parameters(res: SweepResult) -> set[str]:
    """The names of the parameters that batch norms use as their weight and bias."""
    return {n for bn in res.batch_norms for n in (bn.weight_name, bn.bias_name) if n}


def _share_groups(
    res: SweepResult,
    entries: list[tuple[WeightUse, Scaled]],
    share_key: Callable[[WeightUse], Hashable | None] | None,
) -> list[list[str]]:
    """Partition the parameters (batch norm's left out) into groups that are merged
    into one set of weights: every use of one parameter (tied weights, the edges of
    a weight generator) is merged, and parameters with uses of equal non-``None``
    ``share_key`` are merged with each other (union-find).  Groups and their members
    are in order of first use."""
    bn_param_names = _batch_norm_parameters(res)
    names = list(dict.fromkeys(u.param_name for u in res.uses if u.param_name not in bn_param_names))
    parent = {n: n for n in names}

    def find(n):
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    if share_key is not None:
        first_of: dict[Hashable, str] = {}
        for wu, _ in entries:
            k = share_key(wu)
            if k is None:
                continue
            if k in first_of:
                a, b = find(wu.param_name), find(first_of[k])
                if a != b:
                    parent[a] = b
            else:
                first_of[k] = wu.param_name
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(find(n), []).append(n)
    return list(groups.values())


def _weight_node_count(entries: list[tuple[WeightUse, Scaled]], res: SweepResult) -> int:
    """The weight nodes before merging, elements with a zero count left out: every
    use of a parameter that is a weight node of its own (``entries``) and every use
    of a generated weight (each element of a weight that a generator computes for a
    convolution or matrix product, once per use), i.e. the weight nodes of the
    model with its generated weights made parameters (:func:`analyze`)."""
    WG = 0
    for s in [s for _, s in entries] + [g.count for g in res.generated_uses]:
        mc, mult = s.collapsed()
        WG += int((mc != 0).sum()) * mult
    return WG


def _merged_log2_counts(res: SweepResult, groups: list[list[str]]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per group, the log2 counts of the merged weights (the counts of its parameters
    summed element by element, aligned at the leading corner when shapes differ),
    zero counts left out, with each value's multiplicity (the broadcast copies it
    stands for)."""
    logs, mults = [], []
    for members in groups:
        counts = [res.param_counts[n] for n in members if res.param_counts.get(n) is not None]
        if not counts:
            continue
        if len(counts) == 1:
            merged = counts[0]
        else:
            shapes = [tuple(c.shape) for c in counts]
            shape = tuple(max(d) for d in zip(*shapes)) if len({len(x) for x in shapes}) == 1 else shapes[0]
            merged = None
            for c in counts:
                merged = _merge_into(merged, c, shape)
        mc, mult = merged.collapsed()
        l = _log2_counts(mc, merged.exponent)
        logs.append(l)
        mults.append(np.full(l.size, float(mult)))
    return logs, mults


def _log2_counts(mantissa: torch.Tensor, exponent: int) -> np.ndarray:
    """log2 of each nonzero count ``mantissa * 2**exponent``, flattened (float64; PyTorch's ``log2``, whose
    float64 results are those of its scalar kernel on the AVX2 and default levels alike)."""
    l = (torch.log2(mantissa.detach().to(torch.float64)) + float(exponent)).reshape(-1)
    return l[torch.isfinite(l)].numpy()


def _batch_norm_log2_counts(
    res: SweepResult, bn_params_per_channel: int
) -> tuple[list[np.ndarray], list[np.ndarray], int]:
    """Batch norm: ``bn_params_per_channel`` weights per channel, each with the
    channel's count, never merged.  Returns their log2 counts, multiplicities and
    number of weight nodes (channels with a zero count left out)."""
    logs, mults, WG = [], [], 0
    for bn in res.batch_norms:
        l = _log2_counts(bn.channel_count.mantissa, bn.channel_count.exponent)
        if bn_params_per_channel > 0 and l.size:
            logs.append(l)
            mults.append(np.full(l.size, float(bn_params_per_channel)))
            WG += bn_params_per_channel * l.size
    return logs, mults, WG


def _input_output_nodes(
    example_input: torch.Tensor, res: SweepResult, num_inputs: int | None, num_outputs: int | None
) -> tuple[int, int]:
    """``(NI, NO)``: ``num_inputs``/``num_outputs`` where given, else the element
    counts of the input and of the outputs per example (without the batch dimension)."""
    batch = int(example_input.shape[0]) if example_input.dim() > 0 else 1
    NI = int(num_inputs) if num_inputs is not None else example_input.numel() // max(batch, 1)
    NO = int(num_outputs) if num_outputs is not None else res.num_outputs
    return NI, NO


def _per_parameter_summary(mdl: nn.Module, res: SweepResult) -> dict[str, dict[str, Any]]:
    """Per parameter of ``mdl``: its size, how many elements have a context, and the
    log2 of the total, smallest and largest count (``-inf`` without a context)."""
    per_param: dict[str, dict[str, Any]] = {}
    for name, p in mdl.named_parameters():
        s = res.param_counts.get(name)
        if s is None:
            per_param[name] = {
                "numel": p.numel(),
                "with_context": 0,
                "log2_total": float("-inf"),
                "log2_min": float("-inf"),
                "log2_max": float("-inf"),
            }
            continue
        mc, mult = s.collapsed()
        counts = mc.numpy()  # a small array for most parameters: NumPy's calls cost less than torch's
        with_context = counts[counts > 0]  # log2 is monotonic: the extremes' log2 are the log2s' extremes
        tot = pairwise_sum(counts) * mult if counts.size else 0.0
        per_param[name] = {
            "numel": p.numel(),
            "with_context": int(with_context.size) * mult,
            "log2_total": (math.log2(tot) + s.exponent) if tot > 0 else float("-inf"),
            "log2_min": math.log2(with_context.min()) + s.exponent if with_context.size else float("-inf"),
            "log2_max": math.log2(with_context.max()) + s.exponent if with_context.size else float("-inf"),
        }
    return per_param
