"""Which layers share a Shapeshifter parameter store, and how a budget is split among
the stores (Plummer et al., Neural Parameter Allocation Search, section 3.4 and
appendix B.3). Used by :mod:`.stores`.

Mappings (:data:`MAPPINGS`), each returning the stores as groups of layer names,
stores in the order of their first layer, layers in model order:

* ``"single"``: one store for every shared layer;
* ``"random"``: a seeded permutation of the layers dealt to ``num_stores`` stores
  in turn, so every store gets ``floor(L / K)`` or ``ceil(L / K)`` layers;
* ``"manual"``: the user's groups, a dict ``layer -> store label`` or a list of
  layer groups; every shared layer must be placed;
* ``"learned"``: the paper's (section 3.4): every layer draws on one store cut into
  ``C = 4`` equal templates, each resized to the layer by linear interpolation
  (``inter``, up or down); the layers mix them with learned coefficients (WAvg or
  Emb); a short pretraining (the caller's ``pretrain(model)``, which trains the
  model in place) learns the coefficients, and k-means (scikit-learn, seeded) on
  the coefficients groups the layers into ``num_stores`` stores. Training then
  starts from scratch with the learned groups (:func:`learn_store_mapping`).

Budget split (section 3.4): a store gets parameters in proportion to the weights
of its layers, ``|theta_i| = sum_{j in l_i} |w_j| / sum_j |w_j| * |theta|``,
rounded by largest remainders so the sizes add up to the total exactly
(:func:`split_budget`). :func:`store_total_for_budget` finds the store total
that, with the generators' own parameters, makes the model count the budget
(the rule is in :mod:`.stores`).
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Callable, Hashable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from reuseprior.core.errors import SharingError
from reuseprior.models.sharing.generated import GeneratedLayer, WeightSource, add_weight_source, replace_modules

__all__ = [
    "MAPPINGS",
    "MAPPING_TEMPLATES",
    "MappingStore",
    "TemplateEmbedder",
    "learn_store_mapping",
    "manual_mapping",
    "orthonormal_rows",
    "random_mapping",
    "smallest_count",
    "split_budget",
    "store_init_std",
    "store_total_for_budget",
]

#: the layer-to-store mappings of section 3.4 / Table 8
MAPPINGS = ("single", "random", "manual", "learned")

#: C, the templates every layer mixes during the mapping's pretraining (section 3.4: "C = 4 worked well")
MAPPING_TEMPLATES = 4

#: the name the pretraining store is registered under (``model.weight_sources``)
MAPPING_SOURCE_NAME = "ssn_mapping"

#: budget solving: fixed-point steps, then how far below the largest visited total the scan looks
FIXED_POINT_STEPS = 1000
SCAN_STEPS = 20000


def orthonormal_rows(count: int, width: int, generator: torch.Generator) -> torch.Tensor:
    """A ``count x width`` matrix of unit-norm rows, mutually orthogonal when
    ``count <= width`` (``nn.init.orthogonal_``; with more rows than columns only
    the columns can be orthonormal, and the rows are rescaled to unit norm)."""
    matrix = torch.empty(count, width)
    nn.init.orthogonal_(matrix, generator=generator)
    return matrix / matrix.norm(dim=1, keepdim=True).clamp_min(torch.finfo(matrix.dtype).tiny)


def store_init_std(weights: Sequence[torch.Tensor]) -> float:
    """The root mean square of ``weights`` together: the standard deviation a store
    replacing them is drawn with, so the model's own initialisation sets its scale."""
    squares = sum(float((w.detach().double() ** 2).sum()) for w in weights)
    return math.sqrt(squares / sum(w.numel() for w in weights))


class TemplateEmbedder(nn.Module):
    """Emb's shared linear layer ``E: R^embedding_size -> R^P~`` followed by a softmax
    (section 3.2): ``softmax(W alpha + b)``, the mixing weights of a layer with
    embedding ``alpha`` (a vector). Starts like ``nn.Linear`` (uniform in
    +-1/sqrt(embedding_size)), drawn from ``rng``."""

    def __init__(self, embedding_size: int, templates: int, rng: torch.Generator) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(embedding_size)
        self.weight = nn.Parameter((torch.rand(templates, embedding_size, generator=rng) * 2 - 1) * bound)
        self.bias = nn.Parameter((torch.rand(templates, generator=rng) * 2 - 1) * bound)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        return torch.softmax(F.linear(embedding, self.weight, self.bias), dim=0)


def split_budget(total: int, weights: Sequence[int]) -> list[int]:
    """``total`` parameters split in proportion to ``weights`` (largest remainders,
    ties to the earlier store), each part at least 1 (section 3.4's rule)."""
    if total < len(weights):
        raise SharingError(f"cannot split {total} parameters among {len(weights)} stores: each needs at least one")
    weight_sum = sum(weights)
    exact = [total * w / weight_sum for w in weights]
    sizes = [math.floor(e) for e in exact]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in by_remainder[: total - sum(sizes)]:
        sizes[i] += 1
    for i, size in enumerate(sizes):
        if size == 0:
            donor = max(range(len(sizes)), key=lambda j: (sizes[j], -j))
            sizes[donor] -= 1
            sizes[i] = 1
    return sizes


def store_total_for_budget(target: int, count: Callable[[int], int], least: int) -> int | None:
    """The store total ``S >= least`` for a model count ``count(S)`` of ``target``:
    the fixed point of ``S <- target - extra(S)`` from ``S = target``; where the
    iteration cycles or falls below ``least``, the largest ``S`` at most the largest
    one it visited whose count is at most ``target`` (``None`` when none is found
    within :data:`SCAN_STEPS` steps)."""
    visited: set[int] = set()
    total = target
    for _ in range(FIXED_POINT_STEPS):
        if total < least or total in visited:
            break
        visited.add(total)
        following = target - (count(total) - total)
        if following == total:
            return total
        total = following
    top = max(visited, default=least)
    for candidate in range(top, max(least, top - SCAN_STEPS) - 1, -1):
        if count(candidate) <= target:
            return candidate
    return None


def smallest_count(count: Callable[[int], int], least: int, most: int) -> int:
    """The smallest ``count(S)`` over a geometric grid of ``S`` in ``[least, most]``."""
    grid = {least, most} | {round(least * (most / least) ** (k / 400)) for k in range(401)}
    return min(count(s) for s in grid if least <= s <= most)


def random_mapping(keys: Sequence[str], num_stores: int, seed: int) -> list[list[str]]:
    """The layers ``keys`` dealt to ``num_stores`` stores in the order of a seeded
    permutation (Table 8's "Random"); groups in model order."""
    rng = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(keys), generator=rng).tolist()
    label = {keys[layer]: position % num_stores for position, layer in enumerate(order)}
    return _groups_in_model_order(keys, label)


def manual_mapping(keys: Sequence[str], stores: Mapping[str, Hashable] | Sequence[Sequence[str]]) -> list[list[str]]:
    """The user's groups: ``stores`` maps each layer name to a store label, or lists
    the groups of layer names. Every shared layer must be placed exactly once."""
    if isinstance(stores, Mapping):
        label = dict(stores)
    elif isinstance(stores, Sequence) and not isinstance(stores, str):
        label = {}
        for index, group in enumerate(stores):
            if isinstance(group, str) or not isinstance(group, Sequence):
                raise SharingError(f"manual stores: group {index} must be a list of layer names, got {group!r}")
            for key in group:
                if key in label:
                    raise SharingError(f"manual stores: layer {key!r} is in two groups; place every layer once")
                label[key] = index
    else:
        raise SharingError(
            "mapping='manual' needs stores=: a dict {layer name: store label} or a list of groups of layer names"
        )
    unknown = sorted(set(label) - set(keys))
    if unknown:
        raise SharingError(f"manual stores name layers that are not shared: {unknown}; shared layers: {list(keys)}")
    missing = [key for key in keys if key not in label]
    if missing:
        raise SharingError(
            f"manual stores leave these shared layers without a store: {missing}; place them or exclude them "
            "(exclude=[...])"
        )
    return _groups_in_model_order(keys, label)


def _groups_in_model_order(keys: Sequence[str], label: Mapping[str, Hashable]) -> list[list[str]]:
    groups: dict[Hashable, list[str]] = {}
    for key in keys:
        groups.setdefault(label[key], []).append(key)
    return list(groups.values())


class MappingStore(WeightSource):
    """The single store of the mapping's pretraining (section 3.4): ``templates``
    equal slices of the store, each resized to the layer by linear interpolation
    (``align_corners=True``: the first and last stored values land on the first
    and last weights), mixed by the layer's coefficients.

    ``generator="wavg"``: ``coefficients[i]`` are the layer's ``templates`` mixing
    weights (equation 1); ``generator="emb"``: ``coefficients[i]`` is the layer's
    ``embedding_size`` embedding and one shared linear layer (all layers select
    from the same templates) gives ``softmax(E(embedding))`` as mixing weights.
    The coefficients start with orthonormal rows (section 3.2). :meth:`features`
    returns the coefficients k-means groups.
    """

    def __init__(
        self,
        size: int,
        layers: Sequence[tuple[str, tuple[int, ...]]],
        *,
        templates: int,
        generator: str,
        embedding_size: int,
        init_std: float,
        rng: torch.Generator,
    ) -> None:
        super().__init__()
        if size < templates:
            raise SharingError(f"the mapping's pretraining store needs at least {templates} parameters, got {size}")
        self.templates = templates
        self.template_size = size // templates
        self.generator = generator
        self._keys = [key for key, _ in layers]
        self._shapes = dict(layers)
        self.store = nn.Parameter(torch.randn(size, generator=rng) * init_std)
        width = templates if generator == "wavg" else embedding_size
        self.coefficients = nn.Parameter(orthonormal_rows(len(layers), width, rng))
        self.embedder = TemplateEmbedder(embedding_size, templates, rng) if generator == "emb" else None

    def keys(self) -> list[str]:
        return list(self._keys)

    def features(self) -> torch.Tensor:
        """The layers' learned coefficients, one row per layer in model order."""
        return self.coefficients.detach().clone()

    def weight(self, key: str) -> torch.Tensor:
        shape = self._shapes[key]
        size = math.prod(shape)
        row = self.coefficients[self._keys.index(key)]
        mixing = row if self.embedder is None else self.embedder(row)
        cut = self.store[: self.templates * self.template_size].view(1, self.templates, self.template_size)
        resized = F.interpolate(cut, size=size, mode="linear", align_corners=True).view(self.templates, size)
        return (mixing.unsqueeze(1) * resized).sum(0).view(shape)


def learn_store_mapping(
    model: nn.Module,
    layers: Sequence[tuple[str, nn.Module]],
    *,
    pretrain: Callable[[nn.Module], None],
    num_stores: int,
    store_size: int,
    seed: int,
    generator: str = "wavg",
    templates: int = MAPPING_TEMPLATES,
    embedding_size: int = 24,
) -> tuple[list[list[str]], torch.Tensor]:
    """Section 3.4's learned mapping of ``layers`` (``(name, module)`` of ``model``)
    to ``num_stores`` stores.

    A copy of ``model`` gets one :class:`MappingStore` of ``store_size`` parameters
    (drawn from a normal distribution with the mean square of the weights it
    replaces) for all ``layers``; ``pretrain(copy)`` trains it in place (a few
    epochs in the paper; any short loop here); k-means (``n_init=10``,
    ``random_state=seed``) on the learned coefficients gives the groups.
    ``model`` itself is not touched. Returns the groups (stores in the order of
    their first layer, layers in model order) and the coefficient matrix.
    """
    from sklearn.cluster import KMeans  # noqa: PLC0415 (a slow import, needed only by this mapping)

    if generator not in ("wavg", "emb"):
        raise SharingError(f"the learned mapping clusters WAvg or Emb coefficients; got generator={generator!r}")
    if not 1 <= num_stores <= len(layers):
        raise SharingError(f"num_stores must be between 1 and the {len(layers)} shared layers, got {num_stores!r}")
    rng = torch.Generator().manual_seed(seed)
    weights = [module.weight.detach() for _, module in layers]
    source = MappingStore(
        store_size,
        [(name, tuple(module.weight.shape)) for name, module in layers],
        templates=templates,
        generator=generator,
        embedding_size=embedding_size,
        init_std=store_init_std(weights),
        rng=rng,
    ).to(device=weights[0].device, dtype=weights[0].dtype)
    trial = copy.deepcopy(model)
    trial_modules = dict(trial.named_modules())
    add_weight_source(trial, MAPPING_SOURCE_NAME, source)
    replacements = {id(trial_modules[name]): GeneratedLayer(trial_modules[name], source, name) for name, _ in layers}
    replace_modules(trial, replacements)
    pretrain(trial)
    features = source.features()
    with warnings.catch_warnings():  # sklearn's duplicate-points warning: ours below says what it means here
        warnings.filterwarnings("ignore", message="Number of distinct clusters")
        kmeans = KMeans(n_clusters=num_stores, n_init=10, random_state=seed)
        labels = kmeans.fit_predict(features.double().cpu().numpy())
    keys = [name for name, _ in layers]
    groups = _groups_in_model_order(keys, dict(zip(keys, labels.tolist())))
    if len(groups) < num_stores:
        warnings.warn(
            f"k-means found {len(groups)} distinct groups of coefficients for num_stores={num_stores} (several layers "
            f"ended the pretraining with identical coefficients); the model gets {len(groups)} store(s). Pretrain "
            "longer or ask for fewer stores",
            stacklevel=2,
        )
    return groups, features
