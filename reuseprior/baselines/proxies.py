"""Training-free baselines for thesis chapter 6 with one common signature.

Every score is ``score(model, batch) -> float`` where ``batch`` is a
:class:`ProxyBatch` (inputs, integer targets, a seed). A score never
modifies ``model``: scores that must change it (SynFlow) work on a deep copy.
Higher is "predicted better" for every score as defined in its paper. What
each score is (label, unit, requirements, source paper) is recorded in
:mod:`reuseprior.baselines.registry`; this module implements them.

- ``num_params`` and ``flops`` (:mod:`reuseprior.baselines.complexity`:
  ``torch.utils.flop_counter``, one example, 2 FLOPs per multiply-add): the
  strong naive baselines.
- ``synflow`` (Tanaka et al. 2020; as a NAS proxy Abdelfattah et al. 2021):
  data-free; |weights|, BatchNorm removed, float64, all-ones input;
  ``sum(theta * dR/dtheta)`` with ``R = sum(output)``.
- ``snip`` (Lee et al. 2019): ``sum |theta * dL/dtheta|``.
- ``grasp`` (Wang et al. 2020): ``sum(-theta * H g)``.
- ``fisher`` (Theis et al. 2018; Turner et al. 2020): per channel of each
  conv/linear output ``0.5 * mean_batch (sum_spatial a * dL/da)^2``, summed.
- ``grad_norm`` (Abdelfattah et al. 2021): the sum over conv/linear weights
  of ``||dL/dW||_2``.
- ``jacob_cov`` (Mellor et al. 2021, v1): ``-sum(log(v + k) + 1/(v + k))``
  over the eigenvalues ``v`` of the correlation matrix of the per-example
  input Jacobians, ``k = 1e-5``.
- ``naswot`` (Mellor et al. 2021, v2): ``log|det K|`` of the Hamming kernel
  of the binary ReLU activation codes of the batch.
- ``nn_mass`` (Bhardwaj et al., eq. 3): closed form of
  :mod:`reuseprior.baselines.nnmass`, defined only for
  :class:`reuseprior.baselines.nnmass.NNMassNet` (NaN elsewhere).

snip, grasp, fisher and grad_norm weight only conv and linear weights, as the
reference implementations of the zero-cost-proxies study do; the model is
scored in train mode (batch statistics) for the data-dependent proxies.
:func:`data_dependent_scores` computes all six from one shared forward pass
(the same values as one pass each, at a fraction of the CPU time:
``benchmarks/bench_proxies.py`` measures it); the zoo scoring uses it.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Mapping

import numpy as np
import torch
from sklearn.datasets import load_sample_images
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.nn.modules.batchnorm import _BatchNorm

from reuseprior.baselines import nnmass
from reuseprior.baselines.complexity import count_flops, count_parameters
from reuseprior.baselines.registry import DATA_DEPENDENT, proxy_info
from reuseprior.datasets import IMAGENET_MEAN, IMAGENET_STD

__all__ = [
    "DATA_DEPENDENT",
    "LIBRARY_ACTIVATIONS",
    "PROXIES",
    "SHARED_READINGS",
    "ProxyBatch",
    "SharedPass",
    "SharedReading",
    "count_flops",
    "data_dependent_scores",
    "fisher",
    "flops",
    "grad_norm",
    "grasp",
    "grasp_summand_magnitude",
    "is_activation",
    "jacob_cov",
    "make_batch",
    "naswot",
    "nn_mass",
    "num_params",
    "score_all",
    "snip",
    "synflow",
]


@dataclass(frozen=True)
class ProxyBatch:
    """One seeded minibatch: ``inputs`` (B, C, H, W), ``targets`` (B,) class indices.

    ``description`` says what the data are (real images, stand-in, noise), so
    that every stored score can say which data produced it.
    """

    inputs: torch.Tensor
    targets: torch.Tensor
    num_classes: int
    description: str = ""

    @property
    def example(self) -> torch.Tensor:
        """The first input with batch dimension 1 (for FLOPs and counting)."""
        return self.inputs[:1]

    def to(self, device: torch.device | str) -> ProxyBatch:
        """The same minibatch on ``device`` (the same values: a copy, never a new draw)."""
        return ProxyBatch(self.inputs.to(device), self.targets.to(device), self.num_classes, self.description)


def _sample_image_crops(n: int, size: int, generator: np.random.Generator) -> np.ndarray:
    images = [np.asarray(im, dtype=np.float32) / 255.0 for im in load_sample_images().images]
    out = np.empty((n, 3, size, size), dtype=np.float32)
    for k in range(n):
        im = images[k % len(images)]
        h, w, _ = im.shape
        # a random square window, resized to `size` by area averaging (nearest when upsampling)
        side = int(generator.integers(min(size, min(h, w)), min(h, w) + 1))
        top = int(generator.integers(0, h - side + 1))
        left = int(generator.integers(0, w - side + 1))
        crop = torch.from_numpy(im[top : top + side, left : left + side].transpose(2, 0, 1).copy())
        crop = torch.nn.functional.interpolate(crop[None], size=(size, size), mode="area")[0]
        if generator.random() < 0.5:
            crop = crop.flip(-1)
        out[k] = crop.numpy()
    return out


#: :data:`reuseprior.datasets.IMAGENET_MEAN` and ``IMAGENET_STD`` as float32 arrays shaped (1, 3, 1, 1).
_IMAGENET_MEAN = np.array(IMAGENET_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
_IMAGENET_STD = np.array(IMAGENET_STD, dtype=np.float32).reshape(1, 3, 1, 1)


def make_batch(
    batch_size: int,
    image_size: int,
    num_classes: int,
    *,
    source: str = "sample_images",
    seed: int = 0,
) -> ProxyBatch:
    """A seeded stand-in minibatch for the data-dependent proxies.

    No CIFAR-10 or ImageNet images can be downloaded here, so
    ``source="sample_images"`` takes random square crops (random size, random
    flip) of scikit-learn's two bundled photographs (``china.jpg``,
    ``flower.jpg``), resized to ``image_size`` and normalised with the
    ImageNet channel statistics; ``source="noise"`` draws N(0, 1) pixels.
    Targets are uniform random class indices in both cases (the images have
    no labels in the target label space). Same seed, same batch.
    """
    if batch_size < 1 or image_size < 1 or num_classes < 2:
        raise ValueError("batch_size and image_size must be >= 1 and num_classes >= 2")
    rng = np.random.default_rng(seed)
    if source == "sample_images":
        x = (_sample_image_crops(batch_size, image_size, rng) - _IMAGENET_MEAN) / _IMAGENET_STD
        desc = (
            f"{batch_size} random crops of scikit-learn's sample photographs (china.jpg, flower.jpg) "
            f"at {image_size}x{image_size}, ImageNet-normalised; random labels over {num_classes} classes; seed {seed}"
        )
    elif source == "noise":
        x = rng.standard_normal((batch_size, 3, image_size, image_size)).astype(np.float32)
        desc = (
            f"{batch_size} N(0,1) noise images {image_size}x{image_size}; "
            f"random labels over {num_classes} classes; seed {seed}"
        )
    else:
        raise ValueError(f"source must be 'sample_images' or 'noise', got {source!r}")
    y = rng.integers(0, num_classes, size=batch_size)
    return ProxyBatch(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(y).long(), num_classes, desc)


# --------------------------------------------------------------------------- helpers


def _logits(out) -> torch.Tensor:
    """Models that return (features, logits) (xautodl) or a dict give their logits."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return _logits(out[-1])
    if isinstance(out, Mapping):
        for key in ("logits", "out"):
            if key in out:
                return _logits(out[key])
    raise TypeError(f"cannot find logits in a model output of type {type(out).__name__}")


def _weighted_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Conv1d, nn.Conv3d, nn.Linear))]


def _clone_for_grad(model: nn.Module) -> nn.Module:
    clone = copy.deepcopy(model)
    clone.train()
    clone.zero_grad(set_to_none=True)
    return clone


def _out_of_place(model: nn.Module) -> None:
    """Make every module of ``model`` with an ``inplace`` flag (ReLU, Hardswish, Dropout, ...) compute out of place."""
    for module in model.modules():
        if isinstance(getattr(module, "inplace", None), bool):
            module.inplace = False


def _replace_modules(module: nn.Module, kind: type | tuple[type, ...], make: Callable[[], nn.Module]) -> None:
    """Replace, in place, every submodule of type ``kind`` by ``make()``."""
    for name, child in module.named_children():
        if isinstance(child, kind):
            setattr(module, name, make())
        else:
            _replace_modules(child, kind, make)


def _loss(model: nn.Module, batch: ProxyBatch) -> torch.Tensor:
    return nn.functional.cross_entropy(_logits(model(batch.inputs)), batch.targets)


# --------------------------------------------------------------------------- scores


def num_params(model: nn.Module, batch: ProxyBatch | None = None) -> float:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
    """Trainable parameters, tied parameters counted once (:func:`reuseprior.baselines.complexity.count_parameters`)."""
    return float(count_parameters(model))


def flops(model: nn.Module, batch: ProxyBatch) -> float:
    """FLOPs of one example of ``batch`` (:func:`reuseprior.baselines.complexity.count_flops`: 2 per multiply-add)."""
    return count_flops(model, batch.example)


def synflow(model: nn.Module, batch: ProxyBatch) -> float:
    """SynFlow, data-free: ``sum |theta * dR/dtheta|`` over the conv/linear
    weights, ``R`` the sum of the output for an all-ones input, on a float64
    copy whose parameters are replaced by their absolute values and whose
    BatchNorm layers are removed. Biases, normalisation scales and embeddings
    take part in ``R`` but are not summed, as in the reference implementation
    of the zero-cost proxies; the absolute value keeps layers whose gradient
    changes sign (a LayerNorm subtracts its mean) from cancelling others.

    Where the pass leaves float64's range (deep stacks without normalisation
    grow ``R`` geometrically) the score is undefined: a ``ValueError`` names
    the first module whose output is not finite, or says that the backward
    pass is not finite; the scorers store that reason beside the missing value. The copy's in-place
    activations compute out of place (the same values): without its BatchNorm, a ``ReLU(inplace=True)``
    that followed one would overwrite a tensor the backward pass still reads (DPN's, FishNet's)."""
    clone = copy.deepcopy(model).double()
    _replace_modules(clone, _BatchNorm, nn.Identity)
    _out_of_place(clone)
    clone.eval()
    with torch.no_grad():
        for p in clone.parameters():
            p.abs_()
    clone.zero_grad(set_to_none=True)
    ones = torch.ones((1, *batch.inputs.shape[1:]), dtype=torch.float64)
    total_output = torch.sum(_logits(clone(ones)))
    if not torch.isfinite(total_output):
        raise ValueError(
            f"SynFlow undefined: R = {total_output.item()} (the float64 all-ones pass with |weights| and no "
            f"BatchNorm leaves float64's range; first non-finite output: {_first_non_finite_output(clone, ones)})"
        )
    total_output.backward()
    total = 0.0
    for m in _weighted_layers(clone):
        if m.weight.grad is not None:
            total += float((m.weight.detach() * m.weight.grad).abs().sum())
    if not math.isfinite(total):
        raise ValueError(
            f"SynFlow undefined: R = {total_output.item():.3g} is finite but sum |theta * dR/dtheta| = {total} "
            "(the backward pass is not finite: it leaves float64's range, or meets an op whose derivative is "
            "infinite where the pass evaluates it)"
        )
    return total


def _first_non_finite_output(model: nn.Module, inputs: torch.Tensor) -> str:
    """The first module, in forward order, whose tensor output has an inf or NaN
    on ``inputs``: ``'name' (Class)``, or a note that only functional ops did."""
    found: list[str] = []

    def check(name: str, module: nn.Module, output: object) -> None:
        if not found and isinstance(output, torch.Tensor) and not bool(torch.isfinite(output).all()):
            found.append(f"{name!r} ({type(module).__name__})")

    handles = [
        m.register_forward_hook(lambda mod, _inp, out, name=name: check(name, mod, out))
        for name, m in model.named_modules()
        if name
    ]
    try:
        with torch.no_grad():
            model(inputs)
    finally:
        for h in handles:
            h.remove()
    return found[0] if found else "none of the modules' outputs (a functional op of the top-level forward)"


def snip(model: nn.Module, batch: ProxyBatch) -> float:
    """SNIP saliency summed over conv/linear weights: ``sum |theta * dL/dtheta|``."""
    clone = _clone_for_grad(model)
    _loss(clone, batch).backward()
    return float(
        sum(
            (m.weight.grad * m.weight.detach()).abs().sum()
            for m in _weighted_layers(clone)
            if m.weight.grad is not None
        )
    )


def grad_norm(model: nn.Module, batch: ProxyBatch) -> float:
    """Sum over conv/linear layers of the L2 norm of the weight gradient."""
    clone = _clone_for_grad(model)
    _loss(clone, batch).backward()
    return float(sum(m.weight.grad.norm() for m in _weighted_layers(clone) if m.weight.grad is not None))


class _CompositeHardsigmoid(nn.Module):
    """``relu6(x + 3) / 6``: hardsigmoid from ops that can be differentiated twice."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.relu6(x + 3.0) / 6.0


def _lacks_double_backward(message: str) -> bool:
    """An autograd error of an op whose backward cannot itself be differentiated."""
    return "derivative for aten::" in message and "is not implemented" in message


def grasp(model: nn.Module, batch: ProxyBatch) -> float:
    """GraSP: ``sum(-theta * (H g))`` over conv/linear weights (one Hessian-vector product).

    The Hessian-vector product differentiates the backward pass, which some
    fused kernels do not support; GraSP therefore sees attention in its
    composite (math) form and ``nn.Hardsigmoid`` as ``relu6(x + 3) / 6``: the
    same functions, built from twice-differentiable ops."""
    return float(sum(term.sum() for term in _grasp_terms(model, batch)))


def grasp_summand_magnitude(model: nn.Module, batch: ProxyBatch) -> float:
    """``sum |theta * (H g)|``: the magnitude of the summands of :func:`grasp`.

    GraSP is a signed sum whose terms cancel: on BatchNorm networks its value
    can be a small fraction of this magnitude, so the float32 rounding of its
    terms, a fraction of their magnitude, can be as large as GraSP itself.
    Agreement of two GraSP values (a stored one and its live recomputation) is
    therefore judged relative to this, not to GraSP."""
    return float(sum(term.abs().sum() for term in _grasp_terms(model, batch)))


def _grasp_terms(model: nn.Module, batch: ProxyBatch) -> list[torch.Tensor]:
    """Per conv/linear layer, ``-theta * (H g)`` elementwise (the summands of :func:`grasp`)."""
    clone = _clone_for_grad(model)
    _replace_modules(clone, nn.Hardsigmoid, _CompositeHardsigmoid)
    weights = [m.weight for m in _weighted_layers(clone)]
    with sdpa_kernel([SDPBackend.MATH]):
        grads = torch.autograd.grad(_loss(clone, batch), weights, allow_unused=True)
        g = [torch.zeros_like(w) if gi is None else gi.detach() for w, gi in zip(weights, grads)]
        grads2 = torch.autograd.grad(_loss(clone, batch), weights, create_graph=True, allow_unused=True)
        z = sum((gi * gj).sum() for gi, gj in zip(g, grads2) if gj is not None)
        hg = torch.autograd.grad(z, weights, allow_unused=True)
    return [-w.detach() * h for w, h in zip(weights, hg) if h is not None]


def fisher(model: nn.Module, batch: ProxyBatch) -> float:
    """Fisher (Theis et al. 2018; Turner et al. 2020): per-weight channel saliency summed (:func:`_fisher_sum`)."""
    clone = _clone_for_grad(model)
    acts: list[tuple[torch.Tensor, int]] = []

    def keep(m, _inp, out):
        if out.requires_grad:
            out.retain_grad()
            acts.append((out, m.weight[0].numel()))

    handles = [m.register_forward_hook(keep) for m in _weighted_layers(clone)]
    try:
        _loss(clone, batch).backward()
    finally:
        for h in handles:
            h.remove()
    return _fisher_sum(acts, [a.grad for a, _ in acts])


def _fisher_sum(acts: list[tuple[torch.Tensor, int]], grads) -> float:
    """Fisher of the recorded layer outputs: per output channel ``c`` (dimension
    1) ``0.5 * mean_batch (sum_spatial a_c * dL/da_c)^2``, carried by each of
    the ``n`` weights of that channel (``acts`` pairs each output with ``n``,
    ``C_in/groups * k * k`` for a convolution, ``in_features`` for a linear
    layer), summed; the per-weight broadcast of the reference implementation."""
    total = 0.0
    for (a, weights_per_channel), g in zip(acts, grads):
        if g is None:
            continue
        prod = a.detach() * g.detach()
        per = prod.sum(dim=tuple(range(2, prod.dim()))) if prod.dim() > 2 else prod
        total += weights_per_channel * float((0.5 * per.pow(2).mean(0)).sum())
    return total


def jacob_cov(model: nn.Module, batch: ProxyBatch, k: float = 1e-5) -> float:
    """Eigenvalue score of the correlation of per-example input Jacobians."""
    clone = _clone_for_grad(model)
    x = batch.inputs.clone().requires_grad_(True)
    _logits(clone(x)).sum().backward()
    return _jacobian_score(x.grad, k)


def _jacobian_score(input_grad: torch.Tensor | None, k: float) -> float:
    """jacob_cov's eigenvalue score of the per-example input-gradient correlations; undefined (``ValueError``)
    where no gradient reaches the input (``None``: an output that ignores its input, as a NAS-Bench-201 cell
    whose every path from the input is ``none``) or the correlations are not finite. The gradient may lie on
    any device; the score is computed in float64 on the CPU from it."""
    if input_grad is None:
        raise ValueError("jacob_cov undefined: the output does not depend on the input, so no gradient reaches it")
    jac = input_grad.detach().reshape(input_grad.shape[0], -1).double().cpu().numpy()  # from any device
    if not np.all(np.isfinite(jac)):
        raise ValueError("jacob_cov undefined: the input gradients are not finite")
    constant = int(np.sum(jac.std(axis=1) == 0))
    if constant:
        zero = int(np.sum(~jac.any(axis=1)))
        raise ValueError(
            f"jacob_cov undefined: {constant} of {jac.shape[0]} examples' input gradients are constant "
            f"({zero} all zero, as behind a zero-initialised classifier), so their correlations are 0/0"
        )
    corr = np.corrcoef(jac)
    if not np.all(np.isfinite(corr)):
        raise ValueError("jacob_cov undefined: the input gradients' correlation matrix is not finite")
    v = np.linalg.eigvalsh(corr)
    return float(-np.sum(np.log(v + k) + 1.0 / (v + k)))


#: Activations whose input sign defines NASWOT's binary code (ReLU in the
#: paper; for the smooth ReLU-like activations of modern ImageNet models the
#: same sign pattern is used, a documented extension).
_ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.SiLU, nn.GELU, nn.Hardswish, nn.Mish, nn.ELU)

#: Model libraries' own modules for the same functions, named by (module,
#: class) so that the library need not be imported: pytorchcv's ``Swish``
#: (x * sigmoid(x), PyTorch's SiLU) and ``HSwish`` (Hardswish), the
#: activations of its EfficientNets, MixNets and MobileNetV3. Gates (sigmoid,
#: hard sigmoid in squeeze-excitation) are not activations of units here, in
#: any library.
LIBRARY_ACTIVATIONS = frozenset(
    {("pytorchcv.models.common.activ", "Swish"), ("pytorchcv.models.common.activ", "HSwish")}
)


def is_activation(module: nn.Module) -> bool:
    """Whether NASWOT reads ``module``'s input sign code: one of :data:`_ACTIVATIONS`
    or of :data:`LIBRARY_ACTIVATIONS`."""
    kind = type(module)
    return isinstance(module, _ACTIVATIONS) or (kind.__module__, kind.__name__) in LIBRARY_ACTIVATIONS


def naswot(model: nn.Module, batch: ProxyBatch) -> float:
    """NASWOT: log|det K_H| of the binary ReLU codes (Hamming-similarity kernel).

    The code of an example is the sign pattern of the *inputs* of every
    activation module (a ReLU unit is "on" when its input is positive);
    ``K = C C^T + (1-C)(1-C)^T`` summed over activation layers."""
    clone = copy.deepcopy(model)
    clone.train()
    n = batch.inputs.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=batch.inputs.device)

    handles = _hook_activation_codes(clone, kernel)
    try:
        with torch.no_grad():
            clone(batch.inputs)
    finally:
        for h in handles:
            h.remove()
    return _naswot_logdet(kernel, handles)


def _add_hamming_kernel(kernel: torch.Tensor, inputs: torch.Tensor) -> None:
    """``kernel += C C^T + (1-C)(1-C)^T`` for the binary codes ``C = [inputs > 0]``.

    Computed as ``2 C C^T - r_i - r_j + F`` (``r`` the row sums, ``F`` the code
    length), one matrix product instead of two. Every entry is an integer of
    at most ``F`` (a single activation's size), so the product is exact in
    float32 while ``F < 2**24`` (float64 beyond) and the float64 kernel equals the two-product form bit for bit."""
    n = kernel.shape[0]
    flat = inputs.detach().reshape(n, -1)
    c = (flat > 0).to(torch.float32 if flat.shape[1] < 2**24 else torch.float64)
    ones = c.sum(dim=1, dtype=torch.float64)
    kernel.add_(2.0 * (c @ c.t()).double() - ones[:, None] - ones[None, :] + float(c.shape[1]))


def _hook_activation_codes(model: nn.Module, kernel: torch.Tensor) -> list:
    """Forward hooks adding each activation module's input sign code to ``kernel``."""
    return [
        m.register_forward_hook(lambda _m, inp, _out: _add_hamming_kernel(kernel, inp[0]))
        for m in model.modules()
        if is_activation(m)
    ]


def _naswot_logdet(kernel: torch.Tensor, hooks: list) -> float:
    """``log|det K|`` (``-inf`` for a singular kernel); refuses a kernel that
    no activation module contributed to."""
    if not hooks:
        raise ValueError(
            "NASWOT undefined: no activation module of a known type ("
            + ", ".join(a.__name__ for a in _ACTIVATIONS)
            + ", pytorchcv's Swish, HSwish); functional ones (F.relu) are unseen"
        )
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) > 0 else float("-inf")


def nn_mass(model: nn.Module, batch: ProxyBatch | None = None) -> float:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
    """Closed-form NN-Mass (Bhardwaj et al., eq. 3) for NN-Mass-family networks; NaN otherwise."""
    return float(nnmass.nn_mass(model.config)) if isinstance(model, nnmass.NNMassNet) else float("nan")


@dataclass
class SharedPass:
    """One forward pass of a copy of the model on the minibatch, with what the
    wanted proxies record during it (:attr:`SharedReading.records`), and, once a
    proxy that reads the labels asks for them, the gradients of the loss with
    respect to the weights and the recorded activations."""

    batch: ProxyBatch
    x: torch.Tensor
    logits: torch.Tensor
    kernel: torch.Tensor
    code_handles: list
    acts: list[tuple[torch.Tensor, int]]
    k: float
    graded: bool = False
    weights: list[torch.Tensor] = field(default_factory=list)
    w_grads: tuple = ()
    a_grads: tuple = ()

    @property
    def pairs(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """``(weight, its loss gradient)`` of every weighted layer the loss reaches."""
        return [(w.detach(), g.detach()) for w, g in zip(self.weights, self.w_grads) if g is not None]

    def loss_gradients(self, clone: nn.Module, create_graph: bool) -> None:
        """One backward of the cross-entropy loss (kept differentiable with ``create_graph``)."""
        self.weights = [m.weight for m in _weighted_layers(clone)]
        loss = nn.functional.cross_entropy(self.logits, self.batch.targets)
        tensors = self.weights + [a for a, _ in self.acts]
        grads = torch.autograd.grad(loss, tensors, create_graph=create_graph, allow_unused=True) if tensors else ()
        self.w_grads, self.a_grads = grads[: len(self.weights)], grads[len(self.weights) :]
        self.graded = True


@dataclass(frozen=True)
class SharedReading:
    """How a data-dependent proxy reads the :class:`SharedPass`: ``read(shared)``;
    ``records``: what the forward pass must record for it (``"activations"``,
    ``"activation_codes"`` or ``"input_gradient"``); ``alone``: the proxy computed
    on its own when its reading fails because an op has no double backward."""

    read: Callable[[SharedPass], float]
    records: str | None = None
    alone: Callable[[nn.Module, ProxyBatch], float] | None = None


def _grasp_reading(shared: SharedPass) -> float:
    z = sum((g.detach() * g).sum() for g in shared.w_grads if g is not None)
    hg = torch.autograd.grad(z, shared.weights, allow_unused=True)
    return float(sum((-w.detach() * h).sum() for w, h in zip(shared.weights, hg) if h is not None))


def _shared_forward(clone: nn.Module, batch: ProxyBatch, wanted: list[str], k: float) -> SharedPass:
    """The forward pass of the clone, recording what the readings of ``wanted`` need."""
    records = {SHARED_READINGS[p].records for p in wanted}
    n = batch.inputs.shape[0]
    kernel = torch.zeros(n, n, dtype=torch.float64, device=batch.inputs.device)
    acts: list[tuple[torch.Tensor, int]] = []

    def keep(m, _inp, out):
        if out.requires_grad:
            acts.append((out, m.weight[0].numel()))

    handles = [m.register_forward_hook(keep) for m in _weighted_layers(clone)] if "activations" in records else []
    code_handles = _hook_activation_codes(clone, kernel) if "activation_codes" in records else []
    x = batch.inputs.clone().requires_grad_("input_gradient" in records)
    try:  # a proxy that reads activations only keeps no graph (a fraction of the memory)
        with torch.set_grad_enabled(any(proxy_info(p).needs_gradients for p in wanted)):
            logits = _logits(clone(x))
    finally:
        for h in handles + code_handles:
            h.remove()
    return SharedPass(batch, x, logits, kernel, code_handles, acts, k)


def data_dependent_scores(
    model: nn.Module,
    batch: ProxyBatch,
    names: Iterable[str] | None = None,
    *,
    k: float = 1e-5,
    device: torch.device | str | None = None,
) -> dict[str, float]:
    """Every data-dependent proxy (:data:`DATA_DEPENDENT`) from one shared forward pass.

    Each proxy on its own runs its own forward (and backward) pass on a fresh
    copy of ``model``: seven forwards, five backwards and a Hessian-vector
    product for the six. They all read the same network on the same
    minibatch, so one forward suffices: the hooks of :func:`naswot` and
    :func:`fisher` record during it, one backward of the loss (with
    ``create_graph`` when GraSP is wanted) gives the weight gradients of SNIP,
    grad-norm and GraSP and the activation gradients of Fisher, one backward
    of the summed logits gives jacob_cov's input Jacobian, and GraSP's
    Hessian-vector product differentiates the same gradient again.

    The values equal those of the separate functions (tested to 1e-9; the
    float operations are the same) except GraSP on a model that draws random
    numbers in its forward pass (dropout, stochastic depth): separately its two
    forwards draw different masks, here ``g`` and ``H g`` share the one network
    the other proxies see. ``names`` selects a subset; a proxy that fails is
    returned as NaN under its name and its message under ``<name>_error``.
    When GraSP fails because an op of the model has no double backward (fused
    attention, hardsigmoid), it alone is computed again by :func:`grasp`,
    which replaces them by twice-differentiable equivalents.

    ``device`` (default: where ``batch`` is) computes them on a copy of ``model`` and ``batch`` moved
    there, say a GPU: the same initialisation and minibatch, float32 arithmetic whose rounding (and, on
    CUDA, the order of its reductions) is the device's, so a value agrees with the CPU's to float32
    rounding, not bit for bit; the caller records the device with the values.
    """
    if device is not None and torch.device(device) != batch.inputs.device:
        model, batch = copy.deepcopy(model).to(device), batch.to(device)
    wanted = [p for p in PROXIES if p in DATA_DEPENDENT] if names is None else list(names)
    unknown = set(wanted) - DATA_DEPENDENT
    if unknown:
        raise KeyError(f"not data-dependent proxies: {sorted(unknown)}; choose from {sorted(DATA_DEPENDENT)}")
    clone = _clone_for_grad(model)
    shared = _shared_forward(clone, batch, wanted, k)
    out: dict[str, float] = {}

    def record(name: str, compute: Callable[[], float]) -> None:
        try:
            out[name] = compute()
        except Exception as exc:  # one failing proxy does not take the others with it
            out[name] = float("nan")
            out[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[:200]

    # the readings without labels first: the loss's backward frees the graph they differentiate
    for name in sorted(wanted, key=lambda p: proxy_info(p).needs_labels):
        reading = SHARED_READINGS[name]
        if proxy_info(name).needs_labels and not shared.graded:
            shared.loss_gradients(clone, create_graph=any(proxy_info(p).second_order for p in wanted))
        record(name, lambda reading=reading: reading.read(shared))
        if reading.alone is not None and _lacks_double_backward(out.get(f"{name}_error", "")):
            # a fused kernel without double backward (flash attention, hardsigmoid): this proxy alone
            # again with twice-differentiable ops; the others keep the shared forward's values
            del out[f"{name}_error"]
            record(name, lambda reading=reading: reading.alone(model, batch))
    return {name: out[name] for name in wanted} | {key: v for key, v in out.items() if key.endswith("_error")}


#: How each data-dependent proxy (the registry's ``data_dependent``) reads the shared pass.
SHARED_READINGS: dict[str, SharedReading] = {
    "snip": SharedReading(lambda p: float(sum((g * w).abs().sum() for w, g in p.pairs))),
    "grasp": SharedReading(_grasp_reading, alone=grasp),
    "fisher": SharedReading(lambda p: _fisher_sum(p.acts, p.a_grads), records="activations"),
    "grad_norm": SharedReading(lambda p: float(sum(g.norm() for _, g in p.pairs))),
    "jacob_cov": SharedReading(
        lambda p: _jacobian_score(
            torch.autograd.grad(p.logits.sum(), p.x, retain_graph=True, allow_unused=True)[0], p.k
        ),
        records="input_gradient",
    ),
    "naswot": SharedReading(lambda p: _naswot_logdet(p.kernel, p.code_handles), records="activation_codes"),
}
if set(SHARED_READINGS) != DATA_DEPENDENT:
    raise RuntimeError(f"shared readings {sorted(SHARED_READINGS)} != data-dependent proxies {sorted(DATA_DEPENDENT)}")


#: name -> score, in the order of :data:`reuseprior.baselines.registry.REGISTRY`
#: (the column order of the stored tables), which describes each of them.
PROXIES: dict[str, Callable[[nn.Module, ProxyBatch], float]] = {
    "params": num_params,
    "flops": flops,
    "synflow": synflow,
    "snip": snip,
    "grasp": grasp,
    "fisher": fisher,
    "grad_norm": grad_norm,
    "jacob_cov": jacob_cov,
    "naswot": naswot,
    "nn_mass": nn_mass,
}


def score_all(
    model: nn.Module,
    batch: ProxyBatch,
    names: list[str] | None = None,
    *,
    seed: int = 0,
) -> dict[str, float | str]:
    """Every requested score plus ``<name>_seconds`` (wall-clock cost).

    The global torch seed is reset before each score so that a score's value
    does not depend on which scores ran before it.
    """
    out: dict[str, float | str] = {}
    for name in names or list(PROXIES):
        if name not in PROXIES:
            raise KeyError(f"unknown proxy {name!r}; known: {sorted(PROXIES)}")
        torch.manual_seed(seed)
        t0 = time.perf_counter()
        try:
            value = PROXIES[name](model, batch)
        except Exception as exc:  # a proxy that fails on one architecture is recorded, not fatal
            value = float("nan")
            out[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[:200]
        out[name] = value
        out[f"{name}_seconds"] = time.perf_counter() - t0
    return out
