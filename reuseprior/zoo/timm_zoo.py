"""timm's ImageNet-1K classifiers (built without weights) with their published top-1 accuracy.

Ground truth: ``data/timm/results-imagenet.csv`` (ImageNet-1K validation top-1/top-5 of one weight
*tag* of an architecture at one image size per row: ``model`` = ``<architecture>.<tag>``) and
``data/timm/model_metadata-in1k.csv`` (the pretraining data of 521 weights, under their names of
timm 0.6), both from huggingface/pytorch-image-models (Apache-2.0; the commit is named in
``data/THIRD_PARTY.md``). Nothing is downloaded: every model is built with ``pretrained=False``.

Pretraining data of a result row (:func:`pretraining`):

1. the metadata's entry for the row's weights: its legacy name (timm's map of deprecated names to
   ``<architecture>.<tag>``: that name described exactly these weights), else the architecture's bare
   name when the row's tag is the one timm lists first for it and names no data beyond ImageNet-1K
   (no token of :data:`OTHER_DATA_TOKENS`). A bare name described the weights it loaded before tags
   existed; timm has since listed other weights first for some architectures (fine-tunes of
   ImageNet-21k/22k/12k models, distilled students), which a tag naming that data describes itself,
   so the bare name's entry is never given to them;
2. a row the metadata does not cover is read from its tag: ImageNet-1K alone when no token of the
   tag names other data (:data:`OTHER_DATA_TOKENS`: ImageNet-21k/22k/12k, LAION, CLIP/OpenAI, JFT,
   Instagram, YFCC, semi- or weakly-supervised sets, a distillation) and the architecture's name
   names no distillation (``deit_small_distilled_patch16_224``: a student whatever its tag).

``in1k_only`` (the headline subset): ImageNet-1K images alone, no teacher: the metadata's ``in1k``,
``in1k-ap`` (AdvProp) and ``in1k-adv`` (adversarial training), not ``in1k-dist`` (a distilled
student, whose teacher may have seen more), or a tag read as above.

One row per architecture (:func:`choose_rows`), so that no accuracy enters the choice:

1. the weights: among the architecture's ImageNet-1K-only weights if it has any, else among all
   its weights, the tag timm lists first for the architecture (timm's default weights);
2. the image size: that tag's row at its native evaluation size (the tag's ``test_input_size``,
   else its ``input_size``), else its smallest image size.

The model is built for that size (``img_size`` where the constructor takes one: position
embeddings, attention windows) and scored at it. Families (:func:`family`) follow the rule of
:data:`FAMILY_OF_MODULE`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pandas as pd
from torch import nn

from reuseprior.core import paths
from reuseprior.core.errors import ArchitectureRefusedError
from reuseprior.models.timm_models import build_timm

__all__ = [
    "FAMILIES",
    "OTHER_DATA_TOKENS",
    "choose_rows",
    "family",
    "load_timm_results",
    "load_timm_zoo",
    "pretraining",
]

#: where the two published files are kept
TIMM_DATA = Path("timm")
RESULTS_FILE = "results-imagenet.csv"
METADATA_FILE = "model_metadata-in1k.csv"

#: tag tokens that name data beyond ImageNet-1K, or a teacher (rule 2 of the module docstring)
OTHER_DATA_TOKENS = frozenset(
    """in21k in22k in12k in21ft1k in22ft1k laion laion2b laion400m clip openai jft jft300m ig ig1b ig3b yfcc
    yfcc100m swsl ssl swag seer ns dist distilled ssld usi m38m merged2b cc12m datacomp dfn lvd142m
    """.split()
)
#: architecture-name tokens that name a distilled student (rule 2 of the module docstring)
DISTILLED_TOKENS = frozenset({"dist", "distilled"})
#: the metadata's pretraining values that are ImageNet-1K images alone, without a teacher
IN1K_ONLY_METADATA = frozenset({"in1k", "in1k-ap", "in1k-adv"})

#: The families, by how a block mixes its tokens: ``convolutional`` (convolution, pooling, gating or
#: modulation by convolution; no self-attention), ``transformer`` (self-attention in every block;
#: convolutions only as patch embedding, positional encoding, downsampling or inside the MLP),
#: ``hybrid`` (convolutional stages or blocks beside self-attention ones, or a convolutional stem
#: deeper than a patch embedding), ``mlp`` (tokens mixed by MLPs or recurrent layers alone).
FAMILIES = ("convolutional", "transformer", "hybrid", "mlp")

_CONV = """byobnet convmixer convnext cspnet densenet dla dpn efficientnet fasternet focalnet ghostnet hardcorenas hgnet
    hrnet inception_next inception_resnet_v2 inception_v3 inception_v4 mambaout mobilenetv3 nasnet nfnet pnasnet
    rdnet regnet repghost repvit res2net resnest resnet resnetv2 rexnet selecsls senet sknet starnet tresnet vgg
    vovnet xception xception_aligned"""
_TRANSFORMER = """beit cait coat convit crossvit davit deit eva hiera mvitv2 naflexvit nest pit pvt_v2 swin_transformer
    swin_transformer_v2 swin_transformer_v2_cr tnt twins vision_transformer vision_transformer_relpos volo xcit"""
_HYBRID = """byoanet edgenext efficientformer efficientformer_v2 efficientvit_mit efficientvit_msra gcvit levit maxxvit
    mobilevit nextvit shvit swiftformer tiny_vit visformer vision_transformer_hybrid"""
#: timm's model module -> family (rule of :data:`FAMILIES`); ``metaformer`` and ``fastvit`` hold several
#: families and are decided per architecture by :data:`FAMILY_OF_PREFIX`.
FAMILY_OF_MODULE: dict[str, str] = {
    **dict.fromkeys(_CONV.split(), "convolutional"),
    **dict.fromkeys(_TRANSFORMER.split(), "transformer"),
    **dict.fromkeys(_HYBRID.split(), "hybrid"),
    "mlp_mixer": "mlp",
    "sequencer": "mlp",
}
#: architecture-name prefixes of the modules that hold several families (checked in order)
FAMILY_OF_PREFIX: tuple[tuple[str, str], ...] = (
    ("caformer", "hybrid"),  # convolution stages, then attention stages
    ("convformer", "convolutional"),
    ("poolformer", "convolutional"),  # pooling token mixer, 1x1 convolutions as MLP
    ("fastvit_sa", "hybrid"),  # RepMixer stages, then attention
    ("fastvit_ma", "hybrid"),
    ("fastvit_mci", "hybrid"),
    ("fastvit", "convolutional"),  # RepMixer throughout
)

#: how much memory a model needs at least, per published parameter, to be scored: its weights, their
#: gradient, SynFlow's absolute copy and its restore copy, 4 float32 each (16 bytes)
BYTES_PER_PARAMETER = 16


def _data_dir(data_dir: Path | None) -> Path:
    return (data_dir or paths.DATA_DIR) / TIMM_DATA


def _registry() -> object:
    import timm.models._registry as registry  # noqa: PLC0415 (timm: imported where a timm model is named)

    return registry


@lru_cache(maxsize=2)
def load_timm_results(data_dir: Path | None = None) -> pd.DataFrame:
    """Every row of the results file with ``arch``, ``tag``, ``pretrain`` and ``in1k_only`` added
    (:func:`pretraining`; the published ``top1``, ``top5``, ``img_size``, ``param_count`` kept)."""
    folder = _data_dir(data_dir)
    results = pd.read_csv(folder / RESULTS_FILE)
    metadata = pd.read_csv(folder / METADATA_FILE).set_index("model")["pretrain"].to_dict()
    split = results["model"].str.split(".", n=1, expand=True)
    results["arch"], results["tag"] = split[0], split[1]
    registry = _registry()
    legacy = {new: old for old, new in registry._deprecated_models.items() if new}
    first_tag = {arch: tags[0].split(".", 1)[-1] for arch, tags in registry._model_with_tags.items() if tags}
    found = [pretraining(m, a, t, metadata, legacy, first_tag) for m, a, t in results[["model", "arch", "tag"]].values]
    results["pretrain"] = [p for p, _ in found]
    results["in1k_only"] = [ok for _, ok in found]
    return results


def pretraining(
    model: str, arch: str, tag: str, metadata: dict[str, str], legacy: dict[str, str], first_tag: dict[str, str]
) -> tuple[str, bool]:
    """``(pretraining data, ImageNet-1K only)`` of the result row ``model`` by the rule of the module
    docstring: the metadata's value (rule 1), else ``tag:<tag>`` read from the tag (rule 2)."""
    tokens = set(tag.split("_"))
    name = legacy.get(model) if legacy.get(model) in metadata else None
    if name is None and first_tag.get(arch) == tag and arch in metadata and not tokens & OTHER_DATA_TOKENS:
        name = arch
    if name is not None:
        return metadata[name], metadata[name] in IN1K_ONLY_METADATA
    student = bool(set(arch.split("_")) & DISTILLED_TOKENS)
    return f"tag:{tag}", "in1k" in tokens and not tokens & OTHER_DATA_TOKENS and not student


def choose_rows(results: pd.DataFrame, tag_order: dict[str, list[str]], native: dict[str, int]) -> pd.DataFrame:
    """One result row per architecture by the rule of the module docstring. ``tag_order``: each
    architecture's tags as timm lists them; ``native``: each ``model`` name's native evaluation size."""
    chosen = []
    for arch, rows in results.groupby("arch", sort=True):
        pool = rows[rows["in1k_only"]] if rows["in1k_only"].any() else rows
        listed = tag_order.get(arch, [])
        tag = min(pool["tag"], key=lambda t: (listed.index(t) if t in listed else len(listed), t))
        weights = pool[pool["tag"] == tag]
        at_native = weights[weights["img_size"] == native.get(f"{arch}.{tag}", -1)]
        chosen.append((at_native if len(at_native) else weights.sort_values("img_size")).iloc[0])
    return pd.DataFrame(chosen).reset_index(drop=True)


def family(arch: str, module: str) -> str:
    """The family of ``arch`` (built by timm's ``module``), by :data:`FAMILY_OF_PREFIX` then
    :data:`FAMILY_OF_MODULE`; a module the rule does not name is refused (the rule needs an entry)."""
    for prefix, name in FAMILY_OF_PREFIX:
        if arch.startswith(prefix):
            return name
    if module not in FAMILY_OF_MODULE:
        raise KeyError(f"timm module {module!r} (of {arch}) has no family: add it to FAMILY_OF_MODULE")
    return FAMILY_OF_MODULE[module]


@lru_cache(maxsize=2)
def load_timm_zoo(data_dir: Path | None = None) -> pd.DataFrame:
    """One row per architecture of the results file that the installed timm builds (:func:`choose_rows`).

    Columns: ``arch``, ``accuracy`` (published top-1, %), ``top5``, ``tag``, ``img_size``,
    ``published_params`` (the file's count, in parameters), ``pretrain``, ``in1k_only``,
    ``weights_rows`` (the architecture's result rows), ``family``, ``module``."""
    registry = _registry()
    results = load_timm_results(data_dir)
    results = results[results["arch"].isin(registry._model_entrypoints)]
    tag_order = {a: [t.split(".", 1)[-1] for t in tags] for a, tags in registry._model_with_tags.items()}
    native = {m: _native_size(registry, m) for m in results["model"].unique()}
    zoo = choose_rows(results, tag_order, native)
    zoo["published_params"] = (zoo["param_count"].astype(str).str.replace(",", "").astype(float) * 1e6).round()
    zoo["weights_rows"] = zoo["arch"].map(results.groupby("arch").size())
    zoo["module"] = zoo["arch"].map(registry._model_to_module)
    zoo["family"] = [family(a, m) for a, m in zoo[["arch", "module"]].values]
    zoo = zoo.rename(columns={"top1": "accuracy"})
    columns = ["arch", "accuracy", "top5", "tag", "img_size", "published_params", "pretrain", "in1k_only"]
    return zoo[[*columns, "weights_rows", "family", "module"]]


def _native_size(registry: object, model: str) -> int:
    """The native evaluation size of the weights ``model`` (its ``test_input_size``, else ``input_size``)."""
    arch, tag = model.split(".", 1)
    cfg = registry._model_pretrained_cfgs.get(f"{arch}.{tag}")
    if cfg is None:
        return -1
    size = cfg.test_input_size or cfg.input_size
    return int(size[-1])


def unbuildable(data_dir: Path | None = None) -> pd.DataFrame:
    """The result rows whose architecture the installed timm does not build, with the reason."""
    results = load_timm_results(data_dir)
    missing = results[~results["arch"].isin(_registry()._model_entrypoints)]
    import timm  # noqa: PLC0415 (timm: imported where a timm model is named)

    return missing.assign(reason=f"timm {timm.__version__} has no architecture of this name")[["model", "reason"]]


def memory_needed_gib(params: float) -> float:
    """The least memory scoring a model of ``params`` parameters needs (:data:`BYTES_PER_PARAMETER`)."""
    return params * BYTES_PER_PARAMETER / 2**30


def memory_budget_gib() -> float:
    """The memory a model may take to be scored: the memory limit of the Dask worker running it
    (``--max-memory-gb``, else Dask's automatic share), capped by the machine's total memory; outside a
    worker, that total. Policy: a budget fixed by the machine and the command, not by what else runs at
    the moment, so that a rerun refuses the same models; a model within it that still runs out of memory
    kills its worker, and the runner stores it as refused for memory after its retries."""
    import psutil  # noqa: PLC0415 (psutil: a dependency of Dask, read only where a model is refused)
    from distributed import get_worker  # noqa: PLC0415 (Dask: read only where a model is refused)

    total = psutil.virtual_memory().total
    try:
        limit = get_worker().memory_manager.memory_limit
    except ValueError:  # not in a worker
        limit = None
    return min(total, limit or total) / 2**30


def build_zoo_model(arch: str, data_dir: Path | None = None) -> nn.Module:
    """The zoo's ``arch``: its chosen weights' configuration at its image size (:func:`load_timm_zoo`),
    refused (:class:`ArchitectureRefusedError`) when it needs more memory than its budget
    (:func:`memory_budget_gib`)."""
    row = load_timm_zoo(data_dir).set_index("arch").loc[arch]
    needed, budget = memory_needed_gib(float(row["published_params"])), memory_budget_gib()
    if needed > budget:
        raise ArchitectureRefusedError(
            f"out of memory before building: {arch} needs at least {needed:.3g} GiB "
            f"({row['published_params'] / 1e6:.3g} M parameters x {BYTES_PER_PARAMETER} B) and its budget is "
            f"{budget:.3g} GiB (the worker's --max-memory-gb, at most the machine's memory): score it on a "
            "larger machine"
        )
    return build_timm(f"{arch}.{row['tag']}", image_size=int(row["img_size"]))
