"""Model builders; create any of them by name with :func:`build_model`."""

import importlib

from reuseprior.models.efficientnet_v2 import EfficientNetV2, efficientnet_v2
from reuseprior.models.registry import available_models, build_model, register_model
from reuseprior.models.resnet_keras import ResNetKerasV1, resnet50_keras_v1

# Model modules written by other contributors register themselves on import.
for _module in ("mlp", "cnn", "toy", "compact", "cifar_resnets"):
    try:
        importlib.import_module(f"{__name__}.{_module}")
    except ModuleNotFoundError as _err:
        if _err.name != f"{__name__}.{_module}":
            raise

__all__ = [
    "EfficientNetV2",
    "ResNetKerasV1",
    "available_models",
    "build_model",
    "efficientnet_v2",
    "register_model",
    "resnet50_keras_v1",
]
