"""Shapeshifter parameter stores: the ``ssn`` sharing scheme (Plummer et al., Neural
Parameter Allocation Search, section 3 and appendix B), at any parameter budget,
below the model's own size (SSN-) or above it (SSN+).

``share(model, "ssn", budget=..., seed=..., generator=..., upsampler=..., mapping=...)``
(:func:`share_stores`) replaces every ``nn.Conv2d`` and ``nn.Linear`` (less the
``exclude`` ones) by a :class:`~.generated.GeneratedLayer` whose weight a
:class:`ParameterStore` computes on every forward. Batch norm, biases and every
other parameter stay per layer and count toward the budget.

**Stores and budget.** A store is one flat parameter vector ``theta_i`` shared by
its layers (the mapping, :mod:`.store_mapping`, decides which). The budget is the
whole shared model's ``count_parameters``: the unshared parameters ``U``, the
stores, and the generators' own parameters (coefficients, embeddings, masks).
The stores get ``S`` parameters in all, split among them in proportion to the
weights of their layers (section 3.4), where ``S`` solves
``S + extra(S) = budget - U`` (``extra`` is the generators' parameters, which
depend on the store sizes), found by fixed-point iteration from ``S = budget - U``.
The count then equals the budget exactly. Where the iteration cycles, the budget
lies in a gap that a step in the coefficient count jumps over (a layer gaining a
template gains one WAvg coefficient, or under Emb an embedding of 24 and, for a
new template count, a mixing layer of 25 per template); the stores then take the
largest ``S`` whose count stays below the budget, short of it by less than that
step (RR and Avg have no such steps; neither has Mask, whose parameters only
shrink as the stores grow). A budget below ``U`` plus one parameter per store is a
:class:`SharingError` naming the minimum. Without a budget each store gets the
size of its largest layer (the rule of Table 12(c) and Table 4).

**Parameter selector** (section 3.1, :func:`select_templates`). Layer ``j`` with
``n_j`` weights in a store of ``|theta|`` parameters sees the store as
``R_j = floor(|theta| / n_j)`` rows of ``n_j`` consecutive parameters (the excess
at the end is ignored) and gets ``P~_j = max(1, min(R_j, P))`` of them as templates
(``P = max_templates``, 4 by default: the best number of candidates in most rows
of Table 11; WRN-28-10 on CIFAR-100 did best with 8). When the store holds more than ``P`` rows, the rows are allocated
round robin: the store keeps a cursor (a parameter offset, starting at 0); the
layer's templates are the ``P`` rows that follow cyclically from the first of its
rows starting at or after the cursor, ``b_j = ceil(cursor / n_j) mod R_j``, rows
``(b_j + k) mod R_j``, and the cursor moves to the end of its last row (to
``(b_j + P - R_j) n_j`` after a wrap). Layers are visited in model order, so
consecutive layers use consecutive parts of the store, and the first rows are
not used by every layer ("model order" is the order of ``named_modules``).
When ``R_j <= P`` the layer takes all its rows ``0 .. R_j - 1`` and the cursor
stays. When ``n_j > |theta|`` the layer's one template is the whole store,
upsampled. (The text does not say where a layer's rows start; the authors'
released code starts them differently, see "Differences from the released
code" below.)

**Weight generators** (section 3.2, appendix B.2, :data:`GENERATORS`). A layer
with one template uses it as it is. With ``P~ > 1`` templates:

* ``"rr"``: the ``i``-th layer of the store (model order) uses template
  ``i mod P~`` (no parameters);
* ``"avg"``: the mean of the templates (no parameters);
* ``"wavg"``: ``w = sum_k alpha_k T_k`` (equation 1) with ``P~`` learned
  coefficients ``alpha`` per layer;
* ``"emb"``: ``w = sum_k alpha'_k T_k`` with ``alpha' = softmax(E(alpha))``. The
  text gives ``alpha`` the size ``P~ x 24`` but maps it with ``E: R^24 -> R^P~``
  to ``P~`` coefficients; we read ``alpha`` as the layer's 24-vector embedding
  (``embedding_size``) and ``P~ x 24`` as the size of ``E``'s weight
  (``W in R^{24 x P~}``, ``b in R^{P~}``), which gives the stated ``P~`` outputs.
  The text shares ``E`` "between all layers in the parameter store that select
  from the same set of templates". Under the round robin two layers rarely
  select the very same rows, so read literally almost every layer would get its
  own ``E`` and nothing would be shared; we read "the same set" as the same
  number ``P~`` of templates (``E``'s output size), so ``E`` is shared by the
  layers of the store that select ``P~`` templates (one ``E`` per template count;
  :class:`~.store_mapping.TemplateEmbedder`).

The coefficients start orthogonal to those of the other layers of the store
("initialized orthogonally to the coefficients of each other layer in the
store"): the rows of ``nn.init.orthogonal_``, unit norm. Emb's embeddings all
have 24 values, so they are drawn together for every mixing layer of the store;
WAvg's ``alpha`` have ``P~`` values, so they are drawn per template count (vectors
of different lengths cannot be orthogonal). When there are more layers than
dimensions only the columns can be orthonormal and the rows are rescaled to
unit norm. Emb's ``E`` starts like ``nn.Linear`` (uniform in +-1/sqrt(24)), from
the seed.

**Upsamplers** (section 3.3, appendix B.4, :data:`UPSAMPLERS`), for ``n > |theta|``:

* ``"repeat"``: the store tiled ``ceil(n / |theta|)`` times, cut to ``n``;
* ``"inter"``: 1-d linear interpolation of the store to ``n`` values
  (``F.interpolate(mode="linear", align_corners=True)``: the first and last
  stored values are the first and last weights and every stored value is used;
  ``align_corners=False`` would clamp, i.e. repeat, the end values). The text
  says "bilinear interpolation"; the store is a flat vector (section 3.1), which
  has one axis to interpolate along, so we read it as linear interpolation of
  that vector (the same resizing the learned mapping's pretraining uses; the
  released code interpolates a 2-D grid instead, see below);
* ``"mask"``: the store is repeated as for ``"repeat"``; the first copy is used
  unmodified and copy ``r >= 1`` is multiplied elementwise by its own learned
  mask of ``mask_window`` (9) values, tiled over the windows of 9 consecutive
  parameters of that copy (windows aligned with the copy's start; the last one
  cut at the store's end). A layer has ``(ceil(n / |theta|) - 1) x 9`` mask
  parameters; masks start at 1 (the first forward equals ``"repeat"``; the
  released code starts them at ``1 / (9 m)``, see below).

**SSN+.** A budget above the model's size needs nothing special: each layer gets
up to ``P`` templates, the round robin spreads the layers over the store, and
WAvg/Emb learn to mix them; store parameters beyond the reach of ``P``
templates per layer stay unused (they count, as the budget asked).
:func:`~reuseprior.models.sharing.materialize` then precomputes every weight, so
inference pays no generator.

**Initialisation.** Each store is drawn from a normal distribution with the mean
square of the weights it replaces (the model's own initialisation sets the
scale; the paper does not give the stores' initialisation, and the released
code's differs, see below); biases keep their values. A layer that uses one
template, RR, or WAvg (unit-norm ``alpha`` over independent templates) starts
with weights of that scale; Avg and Emb
(coefficients that sum to 1, near ``1 / P~`` at the start) average ``P~``
independent templates and so start about ``sqrt(P~)`` times smaller. All
randomness (stores, coefficients, ``E``, the random and learned mappings) comes
from ``seed``, which is required.

**Differences from the released code.** This module is our reading of the
NPAS text (sections 3.1-3.4, appendix B). The authors' released implementation
(github.com/BryanPlummer/SSN, ``models/param_bank.py``, read at commit
4bd5d5c8 to compare, not copied) differs from that reading in four places,
which the text leaves open (or, for Inter, names only as "bilinear
interpolation"); we keep our reading, so a result of this module reproduces
the method as the text describes it, not necessarily the authors' runs:

* *Inter*: the released code does not interpolate the flat store. It reads
  each template as a 2-D grid of the layer's (output channels) x (input
  channels x kernel) shape, shrunk by one factor ``p`` on both channel counts
  (0.95, then down in steps of 0.05 until the shrunken templates fit in the
  store), and resizes that grid to the layer's full shape by bilinear
  interpolation (``align_corners=False``). Ours: 1-d linear interpolation of
  the flat store to ``n`` values, ``align_corners=True``.
* *Mask*: the released code starts every mask value at ``1 / (9 m)`` (with
  its default window, one 3x3 kernel), ``m`` being the number of extra copies
  of the store (``ceil(n / |theta|) - 1``), so the copies start near zero and
  the first forward is not Repeat's. Ours start at 1.
* *Store initialisation*: the released code draws the store with Kaiming
  normal initialisation on the store viewed as 3x3 kernels (fan-in 9), then
  draws each layer's block again with Kaiming normal initialisation for that
  layer's shape (the least common shape first, so the most common shape's
  draw is the one that stays where blocks overlap). Ours: one normal draw
  with the mean square of the replaced weights.
* *Round-robin start*: the released code gives each layer one contiguous
  block of ``P~ n`` parameters and visits the layers shape by shape (the most
  common shape first, not in model order); the layers of one block size take
  consecutive blocks from a start block chosen once per block size (from an
  offset that grows by one block for each new size; block 0 when that index
  reaches the layer's template count), returning to block 0
  where the store ends. Ours: one cursor per store, layers in model order
  (the selector above).

Also seen there, beyond the four: Emb's softmax over ``E``'s outputs is applied
only when the layer-to-store mapping is learned (section 3.2 applies it always,
and so do we).

Weights are computed with plain differentiable ops on the stored parameters
(slicing, view, cat, mul, sum, softmax, linear, repeat, interpolate), so the
counting engine follows every stored parameter to every weight it generates.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable, Hashable, Iterable, Mapping, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from reuseprior.core.errors import SharingError
from reuseprior.models.sharing.generated import (
    GeneratedLayer,
    WeightSource,
    add_weight_source,
    replace_modules,
    weight_sources,
)
from reuseprior.models.sharing.store_mapping import (
    MAPPING_TEMPLATES,
    MAPPINGS,
    TemplateEmbedder,
    learn_store_mapping,
    manual_mapping,
    orthonormal_rows,
    random_mapping,
    smallest_count,
    split_budget,
    store_init_std,
    store_total_for_budget,
)

__all__ = [
    "EMBEDDING_SIZE",
    "GENERATORS",
    "MASK_WINDOW",
    "MAX_TEMPLATES",
    "UPSAMPLERS",
    "LayerSelection",
    "ParameterStore",
    "extra_parameters",
    "select_templates",
    "share_stores",
    "store_summary",
    "templates_per_layer",
]

#: the weight generators: round robin, average, weighted average, layer embeddings
GENERATORS = ("rr", "avg", "wavg", "emb")
#: the parameter upsamplers
UPSAMPLERS = ("repeat", "inter", "mask")
#: P, the most templates a layer selects (Table 11: 4 is best in most rows)
MAX_TEMPLATES = 4
#: the size of Emb's layer embeddings (section 3.2)
EMBEDDING_SIZE = 24
#: the window of the mask upsampler (section 3.3: one 3x3 kernel)
MASK_WINDOW = 9
#: the stores are registered as ``model.weight_sources[f"{SOURCE_PREFIX}{i}"]``
SOURCE_PREFIX = "ssn_store"

_SHAREABLE = (nn.Conv2d, nn.Linear)


def templates_per_layer(store_size: int, layer_size: int, max_templates: int = MAX_TEMPLATES) -> int:
    """``P~ = max(1, min(floor(|theta| / n), P))`` (section 3.1)."""
    return max(1, min(store_size // layer_size, max_templates))


@dataclass(frozen=True)
class LayerSelection:
    """What the parameter selector gives one layer of a store.

    ``rows`` are the store rows (``n`` consecutive parameters each, row ``r`` is
    ``theta[r n : (r + 1) n]``) that are the layer's templates, in template order;
    empty when the layer is upsampled (its template is the whole store).
    ``position`` is the layer's order among the store's layers (RR's query index).
    """

    key: str
    shape: tuple[int, ...]
    position: int
    rows: tuple[int, ...]
    repeats: int = 1

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def upsampled(self) -> bool:
        return not self.rows

    @property
    def templates(self) -> int:
        return max(1, len(self.rows))


def select_templates(
    store_size: int, layers: Sequence[tuple[str, tuple[int, ...]]], max_templates: int = MAX_TEMPLATES
) -> list[LayerSelection]:
    """The parameter selector of one store (section 3.1 with the round robin
    described in the module docstring) for ``layers`` (``(key, weight shape)``
    in model order)."""
    selections = []
    cursor = 0
    for position, (key, shape) in enumerate(layers):
        size = math.prod(shape)
        if size > store_size:
            selections.append(LayerSelection(key, tuple(shape), position, (), math.ceil(size / store_size)))
            continue
        rows = store_size // size
        count = templates_per_layer(store_size, size, max_templates)
        if rows <= max_templates:
            chosen = tuple(range(count))
        else:
            start = math.ceil(cursor / size) % rows
            chosen = tuple((start + k) % rows for k in range(count))
            end = start + count
            cursor = (end if end <= rows else end - rows) * size
        selections.append(LayerSelection(key, tuple(shape), position, chosen))
    return selections


def _mixed(selections: Iterable[LayerSelection]) -> dict[int, list[LayerSelection]]:
    """The layers that mix several templates, grouped by their template count."""
    groups: dict[int, list[LayerSelection]] = {}
    for selection in selections:
        if selection.templates > 1:
            groups.setdefault(selection.templates, []).append(selection)
    return dict(sorted(groups.items()))


def extra_parameters(
    selections: Sequence[LayerSelection],
    *,
    generator: str,
    upsampler: str,
    embedding_size: int = EMBEDDING_SIZE,
    mask_window: int = MASK_WINDOW,
) -> int:
    """The parameters a store's generator and upsampler add to the store itself:
    WAvg ``P~`` per mixing layer; Emb ``embedding_size`` per mixing layer plus
    ``(embedding_size + 1) P~`` per template count; Mask ``(repeats - 1) x window``
    per upsampled layer."""
    extra = 0
    for templates, group in _mixed(selections).items():
        if generator == "wavg":
            extra += templates * len(group)
        elif generator == "emb":
            extra += embedding_size * len(group) + (embedding_size + 1) * templates
    if upsampler == "mask":
        extra += sum((s.repeats - 1) * mask_window for s in selections if s.upsampled)
    return extra


class ParameterStore(WeightSource):
    """One Shapeshifter parameter store and the weight generator of its layers
    (see the module docstring for the selector, generators and upsamplers).

    Parameters: ``store`` (the flat vector), ``coefficients[f"layer{i}"]`` (WAvg's
    alpha or Emb's embedding of the ``i``-th layer of the store, for layers that
    mix several templates), ``embedders[f"templates{p}"]`` (Emb's ``E`` for the
    layers with ``p`` templates), ``masks[f"layer{i}"]`` (the Mask upsampler's
    ``(repeats - 1) x window`` masks).
    """

    def __init__(
        self,
        size: int,
        selections: Sequence[LayerSelection],
        *,
        generator: str,
        upsampler: str,
        rng: torch.Generator,
        init_std: float,
        embedding_size: int = EMBEDDING_SIZE,
        mask_window: int = MASK_WINDOW,
    ) -> None:
        super().__init__()
        self.generator = generator
        self.upsampler = upsampler
        self.mask_window = mask_window
        self.selections = {s.key: s for s in selections}
        self.store = nn.Parameter(torch.randn(size, generator=rng) * init_std)
        self.coefficients = nn.ParameterDict()
        self.embedders = nn.ModuleDict()
        self.masks = nn.ParameterDict()
        mixed = _mixed(selections)
        if generator == "wavg":
            for templates, group in mixed.items():
                self._add_coefficients(group, orthonormal_rows(len(group), templates, rng))
        elif generator == "emb" and mixed:
            group = sorted((s for g in mixed.values() for s in g), key=lambda s: s.position)
            self._add_coefficients(group, orthonormal_rows(len(group), embedding_size, rng))
            for templates in mixed:
                self.embedders[f"templates{templates}"] = TemplateEmbedder(embedding_size, templates, rng)
        if upsampler == "mask":
            for selection in selections:
                if selection.upsampled:
                    self.masks[f"layer{selection.position}"] = nn.Parameter(
                        torch.ones(selection.repeats - 1, mask_window)
                    )

    def _add_coefficients(self, group: Sequence[LayerSelection], rows: torch.Tensor) -> None:
        for selection, row in zip(group, rows):
            self.coefficients[f"layer{selection.position}"] = nn.Parameter(row.clone())

    def keys(self) -> list[str]:
        return list(self.selections)

    def _row_runs(self, selection: LayerSelection) -> torch.Tensor:
        """The layer's templates as a ``P~ x n`` tensor: slices of the store, one
        slice for each run of consecutive rows (two when the round robin wraps)."""
        n = selection.size
        runs: list[list[int]] = []
        for row in selection.rows:
            if runs and row == runs[-1][-1] + 1:
                runs[-1].append(row)
            else:
                runs.append([row])
        parts = [self.store[run[0] * n : (run[-1] + 1) * n].view(len(run), n) for run in runs]
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def _upsampled(self, selection: LayerSelection) -> torch.Tensor:
        n, stored = selection.size, self.store.numel()
        if self.upsampler == "repeat":
            return self.store.repeat(selection.repeats)[:n]
        if self.upsampler == "inter":
            return F.interpolate(self.store.view(1, 1, stored), size=n, mode="linear", align_corners=True).view(n)
        masks = self.masks[f"layer{selection.position}"]
        tiled = masks.repeat(1, math.ceil(stored / self.mask_window))[:, :stored]
        copies = (self.store.unsqueeze(0) * tiled).reshape(-1)
        return torch.cat([self.store, copies])[:n]

    def weight(self, key: str) -> torch.Tensor:
        selection = self.selections[key]
        n = selection.size
        if selection.upsampled:
            flat = self._upsampled(selection)
        elif selection.templates == 1:
            row = selection.rows[0]
            flat = self.store[row * n : (row + 1) * n]
        elif self.generator == "rr":
            row = selection.rows[selection.position % selection.templates]
            flat = self.store[row * n : (row + 1) * n]
        else:
            templates = self._row_runs(selection)
            if self.generator == "avg":
                flat = templates.mean(0)
            else:
                coefficients = self.coefficients[f"layer{selection.position}"]
                if self.generator == "emb":
                    coefficients = self.embedders[f"templates{selection.templates}"](coefficients)
                flat = (coefficients.unsqueeze(1) * templates).sum(0)
        return flat.view(selection.shape)

    def extra_repr(self) -> str:
        return f"{self.store.numel()} parameters, {len(self.selections)} layers, {self.generator}/{self.upsampler}"


def _check_choice(name: str, value: object, choices: Sequence[str]) -> None:
    if value not in choices:
        raise SharingError(f"unknown ssn {name} {value!r}; choose one of {list(choices)}")


def _check_count(name: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise SharingError(f"ssn option {name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def _shared_layers(
    model: nn.Module, exclude: Iterable[str] | Callable[[str, nn.Module], bool] | None
) -> list[tuple[str, nn.Module]]:
    """Every ``nn.Conv2d``/``nn.Linear`` of ``model`` (a tied module once, under its
    first name) not excluded, in model order."""
    candidates = [(name, m) for name, m in model.named_modules() if name and type(m) in _SHAREABLE]
    if exclude is None:
        return candidates
    if callable(exclude):
        return [(name, m) for name, m in candidates if not exclude(name, m)]
    excluded = set([exclude] if isinstance(exclude, str) else exclude)
    unknown = sorted(excluded - {name for name, _ in candidates})
    if unknown:
        raise SharingError(
            f"exclude names layers the ssn scheme would not share: {unknown}; "
            f"shareable layers: {[name for name, _ in candidates]}"
        )
    return [(name, m) for name, m in candidates if name not in excluded]


def _map_layers(
    model: nn.Module,
    layers: Sequence[tuple[str, nn.Module]],
    mapping: str,
    *,
    num_stores: int | None,
    stores: Mapping[str, Hashable] | Sequence[Sequence[str]] | None,
    pretrain: Callable[[nn.Module], None] | None,
    pretrain_size: int,
    unshared: int,
    seed: int,
    generator: str,
    mapping_templates: int,
    embedding_size: int,
) -> list[list[str]]:
    """The stores as groups of layer names, by ``mapping`` (:mod:`.store_mapping`)."""
    keys = [name for name, _ in layers]
    if mapping != "learned" and pretrain is not None:
        raise SharingError(f"pretrain= is used by mapping='learned' only; got mapping={mapping!r}")
    if mapping == "single":
        if num_stores not in (None, 1):
            raise SharingError(f"mapping='single' has one store; got num_stores={num_stores!r} (use 'random')")
        groups = [keys]
    elif mapping == "manual":
        groups = manual_mapping(keys, stores if stores is not None else ())
    else:
        if num_stores is None:
            raise SharingError(f"mapping={mapping!r} needs num_stores=<int>, the number of parameter stores")
        num_stores = _check_count("num_stores", num_stores)
        if num_stores > len(keys):
            raise SharingError(f"num_stores={num_stores} exceeds the {len(keys)} shared layers; use at most that")
        if mapping == "random":
            groups = random_mapping(keys, num_stores, seed)
        else:
            if pretrain is None:
                raise SharingError(
                    "mapping='learned' needs pretrain=<callable(model) that trains the model in place for a few "
                    "steps> (section 3.4's short pretraining)"
                )
            if pretrain_size < num_stores:
                raise SharingError(
                    f"budget {unshared + pretrain_size} is below the minimum {unshared + num_stores} of this ssn "
                    f"model: its {unshared} unshared parameters plus one parameter for each of its {num_stores} stores"
                )
            groups, _ = learn_store_mapping(
                model,
                layers,
                pretrain=pretrain,
                num_stores=num_stores,
                store_size=max(pretrain_size, mapping_templates),
                seed=seed,
                generator=generator if generator in ("wavg", "emb") else "wavg",
                templates=mapping_templates,
                embedding_size=embedding_size,
            )
    if mapping != "manual" and stores is not None:
        raise SharingError(f"stores= is used by mapping='manual' only; got mapping={mapping!r}")
    return groups


def share_stores(
    model: nn.Module,
    *,
    budget: int | None = None,
    seed: int | None = None,
    generator: str = "emb",
    upsampler: str = "mask",
    mapping: str = "single",
    num_stores: int | None = None,
    stores: Mapping[str, Hashable] | Sequence[Sequence[str]] | None = None,
    pretrain: Callable[[nn.Module], None] | None = None,
    max_templates: int = MAX_TEMPLATES,
    embedding_size: int = EMBEDDING_SIZE,
    mask_window: int = MASK_WINDOW,
    mapping_templates: int = MAPPING_TEMPLATES,
    exclude: Iterable[str] | Callable[[str, nn.Module], bool] | None = None,
    **unknown: object,
) -> nn.Module:
    """Share ``model``'s convolution and linear weights through Shapeshifter
    parameter stores, in place (the ``ssn`` scheme of :func:`~reuseprior.models.sharing.share`).

    Args:
        budget: the shared model's parameter count (see the module docstring);
            ``None``: each store is the size of its largest layer (Table 12(c)).
        seed: seeds everything random (stores, coefficients, mappings); required.
        generator: ``"rr"``, ``"avg"``, ``"wavg"`` or ``"emb"`` (default, the best in Table 4).
        upsampler: ``"repeat"``, ``"inter"`` or ``"mask"`` (default, the paper's method).
        mapping: ``"single"``, ``"random"`` (``num_stores``), ``"manual"``
            (``stores``: dict layer -> label or list of layer groups) or
            ``"learned"`` (``num_stores`` and ``pretrain``, see :mod:`.store_mapping`;
            its pretraining store holds ``budget - U`` parameters, or the largest
            layer without a budget, and mixes with ``generator`` when that is
            WAvg or Emb, else with WAvg).
        pretrain: ``pretrain(model)`` trains the given model in place for a few
            steps; the learned mapping's short pretraining.
        max_templates: ``P`` of the selector.
        embedding_size: Emb's embedding size (24).
        mask_window: the Mask upsampler's window (9).
        mapping_templates: ``C``, the templates of the learned mapping's pretraining (4).
        exclude: layer names, or ``exclude(name, module) -> bool``, to leave unshared.

    Returns:
        ``model`` with one :class:`ParameterStore` per store under
        ``model.weight_sources`` (``ssn_store0``, ``ssn_store1``, ...).
    """
    knobs = {"max_templates": max_templates, "embedding_size": embedding_size, "mask_window": mask_window}
    _check_options(unknown, generator, upsampler, mapping, seed, **knobs, mapping_templates=mapping_templates)
    layers = _shared_layers(model, exclude)
    if not layers:
        raise SharingError("the model has no nn.Conv2d or nn.Linear left to share (after exclude)")
    shared_weights = {id(m.weight) for _, m in layers}
    unshared = sum(p.numel() for p in model.parameters() if p.requires_grad and id(p) not in shared_weights)
    sizes_of = {name: m.weight.numel() for name, m in layers}

    groups = _map_layers(
        model,
        layers,
        mapping,
        num_stores=num_stores,
        stores=stores,
        pretrain=pretrain,
        pretrain_size=max(sizes_of.values()) if budget is None else budget - unshared,
        unshared=unshared,
        seed=int(seed),
        generator=generator,
        mapping_templates=mapping_templates,
        embedding_size=embedding_size,
    )
    shapes = {name: tuple(m.weight.shape) for name, m in layers}
    groups_of_shapes = [[(key, shapes[key]) for key in group] for group in groups]
    layout = _StoreLayout(groups_of_shapes, generator, upsampler, max_templates, embedding_size, mask_window)
    sizes = _store_sizes(layout, groups, sizes_of, budget, unshared)
    _install_stores(model, layout, sizes, seed=int(seed))
    return model


def _store_sizes(
    layout: _StoreLayout, groups: list[list[str]], sizes_of: Mapping[str, int], budget: int | None, unshared: int
) -> list[int]:
    """Each store's size: its largest layer's without a budget (Table 12(c)), else the sizes that meet
    ``budget`` with the ``unshared`` parameters (:func:`_sizes_for_budget`)."""
    if budget is None:
        return [max(sizes_of[key] for key in group) for group in groups]
    weights = [sum(sizes_of[key] for key in group) for group in groups]
    return _sizes_for_budget(layout, budget, unshared, weights)


def store_summary(model: nn.Module) -> pd.DataFrame:
    """One row per layer generated by a Shapeshifter store of ``model``: the store,
    its size (and with its generator's parameters), the layer and its weight
    count, its templates and rows, the store's generator and upsampler, and how
    many copies of the store the layer uses (``repeats > 1``: upsampled)."""
    rows = []
    for name, source in weight_sources(model).items():
        if not isinstance(source, ParameterStore):
            continue
        for selection in source.selections.values():
            rows.append(
                {
                    "store": name,
                    "store_size": source.store.numel(),
                    "store_parameters": source.stored_parameters(),
                    "layer": selection.key,
                    "layer_size": selection.size,
                    "templates": selection.templates,
                    "rows": selection.rows,
                    "generator": source.generator,
                    "upsampler": source.upsampler,
                    "repeats": selection.repeats,
                }
            )
    columns = [
        "store",
        "store_size",
        "store_parameters",
        "layer",
        "layer_size",
        "templates",
        "rows",
        "generator",
        "upsampler",
        "repeats",
    ]
    return pd.DataFrame(rows, columns=columns)


def _check_options(
    unknown: Mapping[str, object], generator: str, upsampler: str, mapping: str, seed: object, **counts: int
) -> None:
    """The options of :func:`share_stores`, checked (a :class:`SharingError` naming the bad one)."""
    if unknown:
        raise SharingError(
            f"unknown ssn option(s) {sorted(unknown)}; the options are budget, seed, generator, upsampler, mapping, "
            "num_stores, stores, pretrain, max_templates, embedding_size, mask_window, mapping_templates, exclude"
        )
    _check_choice("generator", generator, GENERATORS)
    _check_choice("upsampler", upsampler, UPSAMPLERS)
    _check_choice("mapping", mapping, MAPPINGS)
    for name, value in counts.items():
        _check_count(name, value)
    if seed is None or isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise SharingError(
            "the ssn scheme draws its stores and coefficients at random: pass seed=<int> (e.g. share(model, 'ssn', "
            f"budget=..., seed=0)); got seed={seed!r}"
        )


@dataclass(frozen=True)
class _StoreLayout:
    """The layers of each store (``(key, weight shape)``) and the generator's settings."""

    group_layers: list[list[tuple[str, tuple[int, ...]]]]
    generator: str
    upsampler: str
    max_templates: int
    embedding_size: int
    mask_window: int

    def plan(self, sizes: Sequence[int]) -> list[list[LayerSelection]]:
        """The templates each layer selects, for stores of ``sizes``."""
        return [select_templates(size, group, self.max_templates) for size, group in zip(sizes, self.group_layers)]

    def extra(self, sizes: Sequence[int]) -> int:
        """The generators' own parameters (coefficients, embeddings, masks) for stores of ``sizes``."""
        return sum(
            extra_parameters(
                selections,
                generator=self.generator,
                upsampler=self.upsampler,
                embedding_size=self.embedding_size,
                mask_window=self.mask_window,
            )
            for selections in self.plan(sizes)
        )


def _sizes_for_budget(layout: _StoreLayout, budget: int, unshared: int, weights: list[int]) -> list[int]:
    """Store sizes whose model (stores, generators, unshared parameters) has ``budget`` parameters."""
    least = unshared + len(weights)
    if budget < least:
        raise SharingError(
            f"budget {budget} is below the minimum {least} of this ssn model: its {unshared} unshared parameters "
            f"(batch norm, biases, excluded layers) plus one parameter for each of its {len(weights)} store(s)"
        )

    def count(total: int) -> int:
        return total + layout.extra(split_budget(total, weights))

    total = store_total_for_budget(budget - unshared, count, len(weights))
    if total is None:
        smallest = unshared + smallest_count(count, len(weights), budget - unshared)
        raise SharingError(
            f"budget {budget} is too small for generator={layout.generator!r} and upsampler={layout.upsampler!r}: "
            f"their coefficients and masks need more parameters than the stores would have; the smallest count found "
            f"for this model is {smallest}. Raise the budget, or use upsampler='repeat' or 'inter' and "
            f"generator='rr' or 'avg' (minimum {least})"
        )
    return split_budget(total, weights)


def _install_stores(model: nn.Module, layout: _StoreLayout, sizes: list[int], *, seed: int) -> None:
    """One :class:`ParameterStore` of each size under ``model.weight_sources``, its layers generated from it."""
    rng = torch.Generator().manual_seed(seed)
    modules = dict(model.named_modules())
    replacements: dict[int, nn.Module] = {}
    for index, (size, selections) in enumerate(zip(sizes, layout.plan(sizes))):
        originals = [modules[s.key].weight.detach() for s in selections]
        source = ParameterStore(
            size,
            selections,
            generator=layout.generator,
            upsampler=layout.upsampler,
            rng=rng,
            init_std=store_init_std(originals),
            embedding_size=layout.embedding_size,
            mask_window=layout.mask_window,
        ).to(device=originals[0].device, dtype=originals[0].dtype)
        add_weight_source(model, f"{SOURCE_PREFIX}{index}", source)
        for selection in selections:
            layer = modules[selection.key]
            replacements[id(layer)] = GeneratedLayer(layer, source, selection.key)
    replace_modules(model, replacements)
