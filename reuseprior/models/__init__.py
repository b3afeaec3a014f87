"""Model builders; create any of them by name with :func:`build_model`, list them with :func:`list_models`.

Each builder's module registers it (``@register_model("name")``); the registry imports every module of
this package before its first listing or lookup (:data:`reuseprior.models.registry.MODELS`), so no list
of the modules is kept here.
"""

from reuseprior.models.efficientnet_v2 import (
    efficientnet_v2,
)
from reuseprior.models.registry import (
    available_models,
    build_model,
    get_model_builder,
    list_models,
)
from reuseprior.models.resnet_keras import (
    resnet50_keras_v1,
)

__all__ = [
    "available_models",
    "build_model",
    "get_model_builder",
    "list_models",
    "efficientnet_v2",
    "resnet50_keras_v1",
]
