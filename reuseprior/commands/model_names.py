"""The model names ``analyze`` accepts, stored, so that a misspelt name and ``--list-models`` answer without
importing torch and torchvision (4.5-8 s of a 2-core machine's, nearly all of it those imports).

Policy: the stored names answer only where they are the live ones. reuseprior's own names are checked
against :func:`reuseprior.models.registry.available_models` by ``tests/test_cli_messages.py`` (which prints
the lines to paste when a model is added); torchvision's are its classifiers at :data:`TORCHVISION_VERSION`,
and :func:`stored_names` gives ``None`` (the command then asks the libraries, as before) when the installed
torchvision is another version, or none is installed. A ``package.module:factory`` spec is checked by
:func:`reuseprior.core.factories.spec_problem`, which imports nothing either. Nothing here imports torch.
"""

from __future__ import annotations

import importlib.metadata

__all__ = ["REUSEPRIOR_MODELS", "TORCHVISION_MODELS", "TORCHVISION_VERSION", "listing", "stored_names"]

#: :func:`reuseprior.models.registry.available_models`
REUSEPRIOR_MODELS: tuple[str, ...] = tuple(
    """
    compact_net constant_width_cnn constant_width_mlp efficientnet_v2_b0 efficientnet_v2_b1 efficientnet_v2_b2
    efficientnet_v2_b3 efficientnet_v2_l efficientnet_v2_m efficientnet_v2_s resnet50_keras_v1 resnet56_cifar
    resnet_cifar toy_graph wide_resnet_cifar wrn_28_10
    """.split()
)
#: the version of torchvision whose classifiers :data:`TORCHVISION_MODELS` lists (its distribution's version)
TORCHVISION_VERSION = "0.29.2"
#: ``torchvision.models.list_models(module=torchvision.models)`` at :data:`TORCHVISION_VERSION`
TORCHVISION_MODELS: tuple[str, ...] = tuple(
    """
    alexnet convnext_base convnext_large convnext_small convnext_tiny densenet121 densenet161 densenet169
    densenet201 efficientnet_b0 efficientnet_b1 efficientnet_b2 efficientnet_b3 efficientnet_b4 efficientnet_b5
    efficientnet_b6 efficientnet_b7 efficientnet_v2_l efficientnet_v2_m efficientnet_v2_s googlenet inception_v3
    maxvit_t mnasnet0_5 mnasnet0_75 mnasnet1_0 mnasnet1_3 mobilenet_v2 mobilenet_v3_large mobilenet_v3_small
    regnet_x_16gf regnet_x_1_6gf regnet_x_32gf regnet_x_3_2gf regnet_x_400mf regnet_x_800mf regnet_x_8gf
    regnet_y_128gf regnet_y_16gf regnet_y_1_6gf regnet_y_32gf regnet_y_3_2gf regnet_y_400mf regnet_y_800mf
    regnet_y_8gf resnet101 resnet152 resnet18 resnet34 resnet50 resnext101_32x8d resnext101_64x4d
    resnext50_32x4d shufflenet_v2_x0_5 shufflenet_v2_x1_0 shufflenet_v2_x1_5 shufflenet_v2_x2_0 squeezenet1_0
    squeezenet1_1 swin_b swin_s swin_t swin_v2_b swin_v2_s swin_v2_t vgg11 vgg11_bn vgg13 vgg13_bn vgg16
    vgg16_bn vgg19 vgg19_bn vit_b_16 vit_b_32 vit_h_14 vit_l_16 vit_l_32 wide_resnet101_2 wide_resnet50_2
    """.split()
)


def stored_names() -> tuple[tuple[str, ...], tuple[str, ...]] | None:
    """reuseprior's and torchvision's model names as stored, or ``None`` when the installed torchvision is
    not the stored version (the caller then asks the libraries)."""
    try:
        installed = importlib.metadata.version("torchvision")
    except importlib.metadata.PackageNotFoundError:
        return None
    return (REUSEPRIOR_MODELS, TORCHVISION_MODELS) if installed == TORCHVISION_VERSION else None


def listing(ours: tuple[str, ...] | list[str], torchvision: tuple[str, ...] | list[str]) -> str:
    """What ``analyze --list-models`` prints: reuseprior's names (those torchvision also uses marked with
    torchvision's spelling), then torchvision's other classifiers, then the ``module:factory`` form."""
    lines = ["reuseprior models:"]
    for name in sorted(ours):
        shared = f"  (torchvision's of this name: torchvision.models:{name})" if name in torchvision else ""
        lines.append(f"  {name}{shared}")
    lines.append("torchvision classifiers:")
    lines += [f"  {name}" for name in sorted(torchvision) if name not in ours]
    lines.append("any other model: package.module:factory")
    return "\n".join(lines)
