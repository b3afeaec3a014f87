"""Building blocks of section 3.3.5 as blueprint builders, and the PyTorch
modules a blueprint turns into.

Every builder returns a :class:`~reuseprior.revolver.blueprint.Blueprint`
with its input and output shapes (no batch size) computed analytically;
``tests/test_revolver_blocks.py`` checks them against real forward passes.

Blocks: conv unit (pre-activation bn-act-conv, optionally bn-act-dropout-conv;
the stem is conv-bn-act[-pool]), residual block, bottleneck block (1x1 -> kxk
-> 1x1 with 4x expansion, average-pooled shortcut when strided), dense
concatenation group, dense sum group, ensemble mean of 3,
depthwise-separable convolution, convolution-then-deconvolution, and the
WRN-like ResNet and DenseNet skeletons with a BN-ReLU-global-pool-linear tail.

Dropout (the ``dropout`` leaf of section 3.3.5's list) is a parameter-free leaf
``dropout[p]`` placed between the activation and the convolution of a conv
unit ("convolutional units with convolutional and optionally activation,
dropout, batch normalization, and pooling layers"). The random generator puts
it where the original library did: in the first unit of every residual and
bottleneck block of a ResNet group and in every unit of a dense group, one
rate per model; blocks that a mutation creates carry no dropout (the original
created them with rate 0). A rate of 0 adds no leaf, so blueprints built
without dropout are exactly those of a builder that has none. The leaf is
shared by scope name like an activation (it holds no parameters, so sharing
changes no count), is not mutable (the original never mutated the rate),
and contributes neither weights nor cost to the genotype fitness (Algorithm 2
counts convolution and linear leaves). Its masks come from its own generator,
seeded from the run seed and its scope name and saved with the registry's
weights, so a seeded run stays reproducible and resumes bit-identically.

``aggressive=True`` keys every (non-ensemble) convolution by its shape
arguments only (empty prefix), as in section 3.5.2 and chapter 4.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn

from reuseprior.revolver.blueprint import Blueprint, new_uid

__all__ = [
    "Builder",
    "BlueprintModule",
    "CONV_REPLACEMENTS",
    "LEAF_FACTORIES",
    "SeededDropout",
    "conv_output_hw",
    "make_leaf_module",
]

Shape = tuple[int, ...]

#: what a convolution may mutate into (section 3.5.5.3, appendix C.5)
CONV_REPLACEMENTS: list[str] = [
    "conv2d",
    "conv_unit",
    "residual",
    "bottleneck",
    "ensemble_mean",
    "separable_conv",
    "conv_deconv",
]
KERNEL_SIZES: list[int] = [1, 3, 5]
BN_MOMENTA: list[float] = [0.01, 0.05, 0.1, 0.2]

SEQUENTIAL_KINDS = {
    "seq",
    "conv_unit",
    "group",
    "resnet",
    "densenet",
    "head",
    "separable_conv",
    "conv_deconv",
    "transition",
    "shortcut",
}
#: parameter-free leaves that keep the shape of their input
SHAPE_PRESERVING_LEAVES = {"relu", "dropout"}
RESIDUAL_KINDS = {"residual", "bottleneck"}
CONTAINER_KINDS = SEQUENTIAL_KINDS | RESIDUAL_KINDS | {"dense_concat", "dense_sum", "ensemble_mean"}


def conv_output_hw(h: int, w: int, kernel: int, stride: int, padding: int, dilation: int = 1) -> tuple[int, int]:
    out = lambda n: (n + 2 * padding - dilation * (kernel - 1) - 1) // stride + 1  # noqa: E731
    return out(h), out(w)


@dataclass
class Builder:
    """Creates blueprints of the section 3.3.5 blocks.

    ``rng`` draws unique ids; ``bn_unique`` makes every batch norm unique (the
    original library's behaviour, so sharing happens at convolution leaves and
    BN-free containers); ``aggressive`` keys convolutions by shape only.
    """

    rng: np.random.Generator
    aggressive: bool = False
    bn_unique: bool = True
    toggle_p: float = 0.02
    mutation_p: float = 0.8

    @property
    def always_unique(self) -> frozenset[str]:
        """Kinds this builder never shares (batch norm when ``bn_unique``)."""
        return frozenset({"bn2d"}) if self.bn_unique else frozenset()

    def _bp(self, kind: str, prefix: str, args: dict, in_shape: Shape, out_shape: Shape, **kw) -> Blueprint:
        return Blueprint(
            kind=kind,
            prefix=prefix,
            args=args,
            input_shape=tuple(in_shape),
            output_shape=tuple(out_shape),
            toggle_p=self.toggle_p,
            mutation_p=self.mutation_p,
            **kw,
        )

    @staticmethod
    def _uniquify_if_needed(bp: Blueprint, rng: np.random.Generator) -> Blueprint:
        """Rule 4: a container with a unique component is unique."""
        if not bp.unique and any(c.unique for c in bp.children.values()):
            bp.uid = new_uid(rng)
        return bp

    def container(
        self,
        kind: str,
        prefix: str,
        args: dict,
        children: dict[str, Blueprint],
        in_shape: Shape,
        out_shape: Shape,
        mutables: dict | None = None,
    ) -> Blueprint:
        bp = self._bp(kind, prefix, args, in_shape, out_shape, children=children, mutables=mutables or {})
        return self._uniquify_if_needed(bp, self.rng)

    # ---------------------------------------------------------------- leaves
    def conv(
        self,
        prefix: str,
        in_shape: Shape,
        out_ch: int,
        kernel: int = 3,
        stride: int = 1,
        groups: int = 1,
        scoped: bool = False,
    ) -> Blueprint:
        c, h, w = in_shape
        pad = kernel // 2
        args = {
            "in_channels": c,
            "out_channels": out_ch,
            "kernel_size": kernel,
            "stride": stride,
            "padding": pad,
            "dilation": 1,
            "groups": groups,
            "bias": False,
        }
        oh, ow = conv_output_hw(h, w, kernel, stride, pad)
        return self._bp(
            "conv2d",
            "" if (self.aggressive and not scoped) else prefix,
            args,
            in_shape,
            (out_ch, oh, ow),
            mutables={"kernel_size": list(KERNEL_SIZES)},
        )

    def deconv(
        self, prefix: str, in_shape: Shape, out_ch: int, kernel: int, stride: int, padding: int, output_padding: int = 0
    ) -> Blueprint:
        c, h, w = in_shape
        args = {
            "in_channels": c,
            "out_channels": out_ch,
            "kernel_size": kernel,
            "stride": stride,
            "padding": padding,
            "output_padding": output_padding,
            "bias": False,
        }
        f = lambda n: (n - 1) * stride - 2 * padding + kernel + output_padding  # noqa: E731
        return self._bp("deconv2d", prefix, args, in_shape, (out_ch, f(h), f(w)))

    def bn(self, prefix: str, shape: Shape, momentum: float = 0.1) -> Blueprint:
        bp = self._bp(
            "bn2d",
            prefix,
            {"num_features": shape[0], "momentum": float(momentum)},
            shape,
            shape,
            mutables={"momentum": list(BN_MOMENTA)},
        )
        if self.bn_unique:
            bp.uid = new_uid(self.rng)
        return bp

    def relu(self, prefix: str, shape: Shape) -> Blueprint:
        return self._bp("relu", prefix, {}, shape, shape)

    def dropout(self, prefix: str, shape: Shape, p: float) -> Blueprint:
        """A dropout leaf zeroing each element with probability ``p`` during
        training (scaled by ``1/(1-p)``; identity in evaluation)."""
        if not 0.0 < p < 1.0:
            raise ValueError(f"dropout rate must be in (0, 1), got {p!r}")
        return self._bp("dropout", prefix, {"p": float(p)}, shape, shape)

    def pool(self, kind: str, prefix: str, shape: Shape, kernel: int, stride: int, padding: int = 0) -> Blueprint:
        c, h, w = shape
        oh, ow = conv_output_hw(h, w, kernel, stride, padding)
        return self._bp(kind, prefix, {"kernel_size": kernel, "stride": stride, "padding": padding}, shape, (c, oh, ow))

    def gap(self, prefix: str, shape: Shape) -> Blueprint:
        return self._bp("gap", prefix, {}, shape, (shape[0],))

    def linear(self, prefix: str, in_features: int, out_features: int) -> Blueprint:
        return self._bp(
            "linear",
            prefix,
            {"in_features": in_features, "out_features": out_features, "bias": True},
            (in_features,),
            (out_features,),
        )

    # ------------------------------------------------------------- blocks
    def conv_unit(
        self, prefix: str, in_shape: Shape, out_ch: int, kernel: int = 3, stride: int = 1, dropout: float = 0.0
    ) -> Blueprint:
        """Pre-activation convolutional unit: bn -> relu -> conv, or bn -> relu
        -> dropout -> conv when ``dropout > 0``."""
        children = {"bn": self.bn(f"{prefix}/bn", in_shape), "act": self.relu(f"{prefix}/act", in_shape)}
        if dropout > 0:
            children["drop"] = self.dropout(f"{prefix}/drop", in_shape, dropout)
        children["conv"] = conv = self.conv(f"{prefix}/conv", in_shape, out_ch, kernel, stride)
        return self.container(
            "conv_unit",
            prefix,
            {"order": "_".join(children)},
            children,
            in_shape,
            conv.output_shape,
            mutables={"conv": list(CONV_REPLACEMENTS)},
        )

    def stem(
        self, prefix: str, in_shape: Shape, out_ch: int, kernel: int = 3, stride: int = 1, pool: bool = False
    ) -> Blueprint:
        """The first unit: conv -> bn -> relu [-> 3x3/2 max pool]."""
        conv = self.conv(f"{prefix}/conv", in_shape, out_ch, kernel, stride)
        children = {
            "conv": conv,
            "bn": self.bn(f"{prefix}/bn", conv.output_shape),
            "act": self.relu(f"{prefix}/act", conv.output_shape),
        }
        if pool:
            children["pool"] = self.pool("maxpool", f"{prefix}/pool", conv.output_shape, 3, 2, 1)
        out = list(children.values())[-1].output_shape
        return self.container(
            "conv_unit",
            prefix,
            {"order": "conv_bn_act" + ("_pool" if pool else "")},
            children,
            in_shape,
            out,
            mutables={"conv": list(CONV_REPLACEMENTS)},
        )

    def _shortcut(self, prefix: str, in_shape: Shape, out_ch: int, stride: int, pooled: bool) -> Blueprint | None:
        if stride == 1 and in_shape[0] == out_ch:
            return None
        if not pooled:
            return self.conv(f"{prefix}/conv", in_shape, out_ch, 1, stride)
        children: dict[str, Blueprint] = {}
        shape = in_shape
        if stride > 1:
            children["pool"] = self.pool("avgpool", f"{prefix}/pool", shape, stride, stride, 0)
            shape = children["pool"].output_shape
            if shape[1:] != conv_output_hw(in_shape[1], in_shape[2], 1, stride, 0):
                # odd sizes: fall back to a strided 1x1 convolution
                return self.conv(f"{prefix}/conv", in_shape, out_ch, 1, stride)
        if shape[0] != out_ch:
            children["conv"] = self.conv(f"{prefix}/conv", shape, out_ch, 1, 1)
            shape = children["conv"].output_shape
        return self.container("shortcut", prefix, {}, children, in_shape, shape)

    def residual(
        self, prefix: str, in_shape: Shape, out_ch: int, kernel: int = 3, stride: int = 1, dropout: float = 0.0
    ) -> Blueprint:
        """Residual block: two conv units of ``out_ch`` channels plus a skip;
        ``dropout`` goes into the first unit, before its convolution."""
        u1 = self.conv_unit(f"{prefix}/u1", in_shape, out_ch, kernel, stride, dropout)
        u2 = self.conv_unit(f"{prefix}/u2", u1.output_shape, out_ch, kernel, 1)
        body = self.container("seq", f"{prefix}/body", {}, {"u1": u1, "u2": u2}, in_shape, u2.output_shape)
        children = {"body": body}
        sc = self._shortcut(f"{prefix}/shortcut", in_shape, out_ch, stride, pooled=False)
        if sc is not None:
            children["shortcut"] = sc
        return self.container(
            "residual", prefix, {"kernel": kernel, "stride": stride}, children, in_shape, u2.output_shape
        )

    def bottleneck(
        self, prefix: str, in_shape: Shape, out_ch: int, kernel: int = 3, stride: int = 1, dropout: float = 0.0
    ) -> Blueprint:
        """Bottleneck: 1x1 to out/4, kxk (strided), 1x1 expanding 4x; the
        shortcut average-pools when strided; ``dropout`` goes into the first
        unit, before its convolution."""
        mid = max(1, out_ch // 4)
        u1 = self.conv_unit(f"{prefix}/u1", in_shape, mid, 1, 1, dropout)
        u2 = self.conv_unit(f"{prefix}/u2", u1.output_shape, mid, kernel, stride)
        u3 = self.conv_unit(f"{prefix}/u3", u2.output_shape, out_ch, 1, 1)
        body = self.container("seq", f"{prefix}/body", {}, {"u1": u1, "u2": u2, "u3": u3}, in_shape, u3.output_shape)
        children = {"body": body}
        sc = self._shortcut(f"{prefix}/shortcut", in_shape, out_ch, stride, pooled=True)
        if sc is not None:
            children["shortcut"] = sc
        return self.container(
            "bottleneck", prefix, {"kernel": kernel, "stride": stride}, children, in_shape, u3.output_shape
        )

    @staticmethod
    def _group_args(args: dict, dropout: float) -> dict:
        """A group's arguments; the dropout rate is named only when used, so a
        group without dropout keeps the name it had before dropout existed."""
        return {**args, "dropout": float(dropout)} if dropout > 0 else args

    def dense_concat(
        self, prefix: str, in_shape: Shape, growth: int, depth: int, kernel: int = 3, dropout: float = 0.0
    ) -> Blueprint:
        """Dense concatenation group: x <- cat(x, unit_i(x)), out channels
        C + depth*growth; ``dropout`` goes into every unit."""
        c, h, w = in_shape
        children = {}
        for i in range(depth):
            children[str(i)] = self.conv_unit(f"{prefix}/unit", (c + i * growth, h, w), growth, kernel, 1, dropout)
        args = self._group_args({"growth": growth, "depth": depth}, dropout)
        return self.container("dense_concat", prefix, args, children, in_shape, (c + depth * growth, h, w))

    def dense_sum(
        self, prefix: str, in_shape: Shape, growth: int, depth: int, kernel: int = 3, dropout: float = 0.0
    ) -> Blueprint:
        """Dense sum group (the thesis's own, for compactness): s <- unit_0(x),
        s <- s + unit_i(s); the output concatenates the input with s
        (C + growth channels); ``dropout`` goes into every unit."""
        c, h, w = in_shape
        children = {"0": self.conv_unit(f"{prefix}/first", in_shape, growth, kernel, 1, dropout)}
        for i in range(1, depth):
            children[str(i)] = self.conv_unit(f"{prefix}/unit", (growth, h, w), growth, kernel, 1, dropout)
        args = self._group_args({"growth": growth, "depth": depth}, dropout)
        return self.container("dense_sum", prefix, args, children, in_shape, (c + growth, h, w))

    def ensemble_mean(
        self, prefix: str, in_shape: Shape, out_ch: int, kernel: int = 3, stride: int = 1, n: int = 3
    ) -> Blueprint:
        """Mean of ``n`` convolutions of the same shape (members are scoped by
        position, also under aggressive sharing, so they are distinct)."""
        children = {
            str(i): self.conv(f"{prefix}/m{i}", in_shape, out_ch, kernel, stride, scoped=True) for i in range(n)
        }
        return self.container("ensemble_mean", prefix, {"n": n}, children, in_shape, children["0"].output_shape)

    def separable_conv(self, prefix: str, in_shape: Shape, out_ch: int, kernel: int = 3, stride: int = 1) -> Blueprint:
        """Depthwise kxk convolution followed by a pointwise 1x1 convolution."""
        dw = self.conv(f"{prefix}/dw", in_shape, in_shape[0], kernel, stride, groups=in_shape[0])
        pw = self.conv(f"{prefix}/pw", dw.output_shape, out_ch, 1, 1)
        return self.container("separable_conv", prefix, {}, {"dw": dw, "pw": pw}, in_shape, pw.output_shape)

    def conv_deconv(self, prefix: str, in_shape: Shape, out_ch: int, kernel: int = 3, stride: int = 1) -> Blueprint:
        """Convolution followed by a transposed convolution with the output
        shape of a plain ``kernel``/``stride`` convolution: the convolution
        downsamples by a further 2 and a 2x2/2 deconvolution restores the
        size (stride-1 3x3 deconvolution when the target size is odd)."""
        _, h, w = in_shape
        th, tw = conv_output_hw(h, w, kernel, stride, kernel // 2)
        if th % 2 == 0 and tw % 2 == 0:
            conv = self.conv(f"{prefix}/conv", in_shape, out_ch, kernel, 2 * stride)
            de = self.deconv(f"{prefix}/deconv", conv.output_shape, out_ch, 2, 2, 0)
        else:
            conv = self.conv(f"{prefix}/conv", in_shape, out_ch, kernel, stride)
            de = self.deconv(f"{prefix}/deconv", conv.output_shape, out_ch, 3, 1, 1)
        return self.container("conv_deconv", prefix, {}, {"conv": conv, "deconv": de}, in_shape, de.output_shape)

    def block(
        self,
        kind: str,
        prefix: str,
        in_shape: Shape,
        out_ch: int,
        kernel: int = 3,
        stride: int = 1,
        dropout: float = 0.0,
    ) -> Blueprint:
        """Any shape-(in, out_ch, stride) replacement of a convolution by kind;
        ``dropout`` applies to the kinds made of conv units (conv unit,
        residual, bottleneck) and is ignored by the others."""
        makers: dict[str, Callable[..., Blueprint]] = {
            "conv2d": lambda: self.conv(prefix, in_shape, out_ch, kernel, stride),
            "conv_unit": lambda: self.conv_unit(prefix, in_shape, out_ch, kernel, stride, dropout),
            "residual": lambda: self.residual(prefix, in_shape, out_ch, kernel, stride, dropout),
            "bottleneck": lambda: self.bottleneck(prefix, in_shape, out_ch, kernel, stride, dropout),
            "ensemble_mean": lambda: self.ensemble_mean(prefix, in_shape, out_ch, kernel, stride),
            "separable_conv": lambda: self.separable_conv(prefix, in_shape, out_ch, kernel, stride),
            "conv_deconv": lambda: self.conv_deconv(prefix, in_shape, out_ch, kernel, stride),
        }
        if kind not in makers:
            raise ValueError(f"unknown block kind {kind!r}; choose from {sorted(makers)}")
        return makers[kind]()

    # ----------------------------------------------------------- skeletons
    def head(self, prefix: str, in_shape: Shape, num_classes: int) -> Blueprint:
        bn = self.bn(f"{prefix}/bn", in_shape)
        act = self.relu(f"{prefix}/act", in_shape)
        gap = self.gap(f"{prefix}/gap", in_shape)
        lin = self.linear(f"{prefix}/linear", in_shape[0], num_classes)
        return self.container(
            "head", prefix, {}, {"bn": bn, "act": act, "gap": gap, "linear": lin}, in_shape, lin.output_shape
        )

    def res_group(
        self,
        prefix: str,
        in_shape: Shape,
        out_ch: int,
        depth: int,
        block_kind: str = "residual",
        kernel: int = 3,
        stride: int = 1,
        max_depth: int = 4,
        dropout: float = 0.0,
    ) -> Blueprint:
        """A ResNet group: the first block may stride; later blocks share one
        scope (cross-layer sharing of repeated blocks, section 3.5.2). Every
        block gets ``dropout`` (kept in the group's arguments, so blocks a
        depth mutation adds get it too)."""
        first = self.block(block_kind, f"{prefix}/first", in_shape, out_ch, kernel, stride, dropout)
        children = {"0": first}
        for i in range(1, depth):
            children[str(i)] = self.block(block_kind, f"{prefix}/block", first.output_shape, out_ch, kernel, 1, dropout)
        return self.container(
            "group",
            prefix,
            self._group_args({"block": block_kind, "stride": stride}, dropout),
            children,
            in_shape,
            first.output_shape,
            mutables={"depth": list(range(1, max_depth + 1))},
        )

    def resnet(
        self,
        name: str,
        in_shape: Shape,
        num_classes: int,
        widths: list[int],
        depths: list[int],
        block_kinds: list[str],
        kernels: list[int] | None = None,
        stem_width: int = 16,
        stem_kernel: int = 3,
        stem_stride: int = 1,
        stem_pool: bool = False,
        max_depth: int = 4,
        dropout: float = 0.0,
    ) -> Blueprint:
        """WRN-like ResNet skeleton: stem, groups (each after the first halves
        the resolution with a strided block) and a BN-ReLU-pool-linear tail;
        ``dropout`` goes into the first unit of every block."""
        kernels = kernels or [3] * len(widths)
        stem = self.stem(f"{name}/stem", in_shape, stem_width, stem_kernel, stem_stride, stem_pool)
        children, shape = {"stem": stem}, stem.output_shape
        for g, (wd, d, kind, k) in enumerate(zip(widths, depths, block_kinds, kernels)):
            group = self.res_group(f"{name}/g{g}", shape, wd, d, kind, k, 1 if g == 0 else 2, max_depth, dropout)
            children[f"g{g}"] = group
            shape = group.output_shape
        children["head"] = self.head(f"{name}/head", shape, num_classes)
        return self.container("resnet", name, {}, children, in_shape, (num_classes,))

    def densenet(
        self,
        name: str,
        in_shape: Shape,
        num_classes: int,
        growths: list[int],
        depths: list[int],
        group_kinds: list[str],
        kernels: list[int] | None = None,
        stem_width: int = 16,
        stem_kernel: int = 3,
        stem_stride: int = 1,
        stem_pool: bool = False,
        dropout: float = 0.0,
    ) -> Blueprint:
        """DenseNet skeleton: dense groups separated by transitions (1x1 conv
        unit halving the channels, 2x2 average pool); ``dropout`` goes into
        every unit of the dense groups (not the stem or the transitions)."""
        kernels = kernels or [3] * len(growths)
        stem = self.stem(f"{name}/stem", in_shape, stem_width, stem_kernel, stem_stride, stem_pool)
        children, shape = {"stem": stem}, stem.output_shape
        for g, (gr, d, kind, k) in enumerate(zip(growths, depths, group_kinds, kernels)):
            maker = self.dense_concat if kind == "dense_concat" else self.dense_sum
            group = maker(f"{name}/g{g}", shape, gr, d, k, dropout)
            children[f"g{g}"] = group
            shape = group.output_shape
            if g < len(growths) - 1 and min(shape[1:]) >= 2:
                unit = self.conv_unit(f"{name}/t{g}/unit", shape, max(1, shape[0] // 2), 1, 1)
                pool = self.pool("avgpool", f"{name}/t{g}/pool", unit.output_shape, 2, 2, 0)
                children[f"t{g}"] = self.container(
                    "transition", f"{name}/t{g}", {}, {"unit": unit, "pool": pool}, shape, pool.output_shape
                )
                shape = pool.output_shape
        children["head"] = self.head(f"{name}/head", shape, num_classes)
        return self.container("densenet", name, {}, children, in_shape, (num_classes,))


# --------------------------------------------------------------------------- modules
LEAF_FACTORIES: dict[str, Callable[[dict], nn.Module]] = {}


def leaf(kind: str):
    """Register the constructor of a leaf kind (one small function per kind)."""

    def wrap(fn: Callable[[dict], nn.Module]):
        LEAF_FACTORIES[kind] = fn
        return fn

    return wrap


@leaf("conv2d")
def _conv(a: dict) -> nn.Module:
    return nn.Conv2d(
        a["in_channels"],
        a["out_channels"],
        a["kernel_size"],
        a["stride"],
        a["padding"],
        a["dilation"],
        a["groups"],
        a["bias"],
    )


@leaf("deconv2d")
def _deconv(a: dict) -> nn.Module:
    return nn.ConvTranspose2d(
        a["in_channels"],
        a["out_channels"],
        a["kernel_size"],
        a["stride"],
        a["padding"],
        a["output_padding"],
        bias=a["bias"],
    )


@leaf("bn2d")
def _bn(a: dict) -> nn.Module:
    return nn.BatchNorm2d(a["num_features"], momentum=a["momentum"])


@leaf("relu")
def _relu(a: dict) -> nn.Module:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
    return nn.ReLU()


class SeededDropout(nn.Module):
    """Element-wise dropout drawing its masks from its own generator.

    Each training forward draws one seed from a CPU generator and fills the
    mask from a generator on the input's device seeded with it, so the masks
    depend on the run seed, the scope name and the number of calls, never on
    torch's global generator. The CPU generator's state is the module's extra
    state: it travels in ``state_dict`` (a uint8 tensor, loadable with
    ``weights_only=True``), so a resumed run draws the same masks."""

    def __init__(self, p: float, seed: int = 0):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout rate must be in [0, 1), got {p!r}")
        self.p = float(p)
        self.generator = torch.Generator().manual_seed(int(seed))

    def reseed(self, generator: torch.Generator) -> None:
        """Seed the mask generator with a number drawn from ``generator``."""
        self.generator.manual_seed(int(torch.randint(0, 2**62, (1,), generator=generator)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        seed = int(torch.randint(0, 2**62, (1,), generator=self.generator))
        device_generator = torch.Generator(device=x.device).manual_seed(seed)
        keep = torch.empty_like(x).bernoulli_(1.0 - self.p, generator=device_generator)
        return x * keep / (1.0 - self.p)

    def get_extra_state(self) -> torch.Tensor:
        return self.generator.get_state()

    def set_extra_state(self, state: torch.Tensor) -> None:
        self.generator.set_state(state.cpu())

    def extra_repr(self) -> str:
        return f"p={self.p}"


@leaf("dropout")
def _dropout(a: dict) -> nn.Module:
    return SeededDropout(a["p"])


@leaf("maxpool")
def _maxpool(a: dict) -> nn.Module:
    return nn.MaxPool2d(a["kernel_size"], a["stride"], a["padding"])


@leaf("avgpool")
def _avgpool(a: dict) -> nn.Module:
    return nn.AvgPool2d(a["kernel_size"], a["stride"], a["padding"])


@leaf("gap")
def _gap(a: dict) -> nn.Module:  # noqa: ARG001 - the signature every proxy / hook / builder of its kind takes
    return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())


@leaf("linear")
def _linear(a: dict) -> nn.Module:
    return nn.Linear(a["in_features"], a["out_features"], a["bias"])


def make_leaf_module(bp: Blueprint, generator: torch.Generator) -> nn.Module:
    """Construct a leaf and initialise it from ``generator`` (so the initial
    weights, and a dropout leaf's masks, depend on the scope name and the run
    seed, not on creation order)."""
    if bp.kind not in LEAF_FACTORIES:
        raise ValueError(f"no module constructor for leaf kind {bp.kind!r}; known: {sorted(LEAF_FACTORIES)}")
    module = LEAF_FACTORIES[bp.kind](bp.args)
    with torch.no_grad():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", generator=generator)
        elif isinstance(module, nn.Linear):
            bound = 1.0 / math.sqrt(module.in_features)
            module.weight.uniform_(-bound, bound, generator=generator)
            if module.bias is not None:
                module.bias.uniform_(-bound, bound, generator=generator)
        elif isinstance(module, SeededDropout):
            module.reseed(generator)
    return module


class BlueprintModule(nn.Module):
    """A container built from a blueprint; children may be shared objects."""

    def __init__(self, kind: str, name: str, children: dict[str, nn.Module]):
        super().__init__()
        if kind not in CONTAINER_KINDS:
            raise ValueError(f"unknown container kind {kind!r}; known: {sorted(CONTAINER_KINDS)}")
        self.kind = kind
        self.scope_name = name
        self.parts = nn.ModuleDict(children)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = self.parts
        if self.kind in SEQUENTIAL_KINDS:
            for module in parts.values():
                x = module(x)
            return x
        if self.kind in RESIDUAL_KINDS:
            skip = parts["shortcut"](x) if "shortcut" in parts else x
            return parts["body"](x) + skip
        if self.kind == "dense_concat":
            for module in parts.values():
                x = torch.cat([x, module(x)], dim=1)
            return x
        if self.kind == "dense_sum":
            modules = list(parts.values())
            acc = modules[0](x)
            for module in modules[1:]:
                acc = acc + module(acc)
            return torch.cat([x, acc], dim=1)
        if self.kind == "ensemble_mean":
            return torch.stack([m(x) for m in parts.values()]).mean(dim=0)
        raise AssertionError(self.kind)

    def extra_repr(self) -> str:
        return f"kind={self.kind}"


def _leaf_output_shape(bp: Blueprint) -> Shape | None:
    a, shape = bp.args, tuple(bp.input_shape)
    if bp.kind == "conv2d":
        if shape[0] != a["in_channels"]:
            return None
        return (
            a["out_channels"],
            *conv_output_hw(shape[1], shape[2], a["kernel_size"], a["stride"], a["padding"], a["dilation"]),
        )
    if bp.kind == "deconv2d":
        if shape[0] != a["in_channels"]:
            return None
        f = lambda n: (n - 1) * a["stride"] - 2 * a["padding"] + a["kernel_size"] + a["output_padding"]  # noqa: E731
        return (a["out_channels"], f(shape[1]), f(shape[2]))
    if bp.kind in ("maxpool", "avgpool"):
        return (shape[0], *conv_output_hw(shape[1], shape[2], a["kernel_size"], a["stride"], a["padding"]))
    if bp.kind == "bn2d":
        return shape if shape[0] == a["num_features"] else None
    if bp.kind == "gap":
        return (shape[0],)
    if bp.kind == "linear":
        return (a["out_features"],) if shape == (a["in_features"],) else None
    if bp.kind in SHAPE_PRESERVING_LEAVES:
        return shape
    return None


def _sequence_errors(bp: Blueprint, here: str, ins: tuple, outs: tuple) -> list[str]:
    errors, shape = [], ins
    for role, child in bp.children.items():
        if tuple(child.input_shape) != shape:
            errors.append(f"{here}/{role}: input {child.input_shape} != incoming {shape}")
        shape = tuple(child.output_shape)
    if shape != outs:
        errors.append(f"{here}: sequence ends with {shape}, declared {outs}")
    return errors


def _member_errors(bp: Blueprint, here: str, ins: tuple, outs: tuple, *, ensemble: bool = False) -> list[str]:
    """Branches of a residual block, or members of an ensemble: each maps the block's input to its output."""
    return [
        f"{here}/{role}: "
        + (f"ensemble member {c.input_shape}->{c.output_shape}" if ensemble else f"{c.input_shape}->{c.output_shape}")
        + ("" if ensemble else f" != {ins}->{outs}")
        for role, c in bp.children.items()
        if (tuple(c.input_shape), tuple(c.output_shape)) != (ins, outs)
    ]


def _dense_concat_errors(bp: Blueprint, here: str, ins: tuple, outs: tuple) -> list[str]:
    errors, c = [], ins[0]
    for role, child in bp.children.items():
        if tuple(child.input_shape) != (c, *ins[1:]) or tuple(child.output_shape[1:]) != ins[1:]:
            errors.append(f"{here}/{role}: dense unit {child.input_shape}->{child.output_shape} at {c} channels")
        c += child.output_shape[0]
    if (c, *ins[1:]) != outs:
        errors.append(f"{here}: concatenation gives {c} channels, declared {outs}")
    return errors


def _dense_sum_errors(bp: Blueprint, here: str, ins: tuple, outs: tuple) -> list[str]:
    errors, kids = [], list(bp.children.values())
    first = kids[0]
    if tuple(first.input_shape) != ins:
        errors.append(f"{here}/0: input {first.input_shape} != {ins}")
    acc = tuple(first.output_shape)
    for child in kids[1:]:
        if (tuple(child.input_shape), tuple(child.output_shape)) != (acc, acc):
            errors.append(f"{here}: dense-sum unit {child.input_shape}->{child.output_shape} != {acc}")
    if (ins[0] + acc[0], *ins[1:]) != outs:
        errors.append(f"{here}: dense-sum output {outs} != {(ins[0] + acc[0], *ins[1:])}")
    return errors


def _composition_errors(bp: Blueprint, here: str, ins: tuple, outs: tuple) -> list[str]:
    """How ``bp``'s children chain by its kind of composition."""
    if bp.kind in SEQUENTIAL_KINDS:
        return _sequence_errors(bp, here, ins, outs)
    if bp.kind in RESIDUAL_KINDS or bp.kind == "ensemble_mean":
        return _member_errors(bp, here, ins, outs, ensemble=bp.kind == "ensemble_mean")
    check = {"dense_concat": _dense_concat_errors, "dense_sum": _dense_sum_errors}
    return check[bp.kind](bp, here, ins, outs) if bp.kind in check else []


def validate_shapes(bp: Blueprint, path: str = "") -> list[str]:
    """Static check that every node's declared shapes chain consistently
    (an empty list means shape-valid); complements a real forward pass."""
    errors: list[str] = []
    here = path or bp.name
    ins, outs = tuple(bp.input_shape), tuple(bp.output_shape)
    if bp.is_leaf:
        expected = _leaf_output_shape(bp)
        if expected != outs:
            errors.append(f"{here}: {bp.kind} maps {ins} to {expected}, declared {outs}")
        return errors
    for role, child in bp.children.items():
        errors += validate_shapes(child, f"{here}/{role}")
    return errors + _composition_errors(bp, here, ins, outs)
