"""Model builders; create any of them by name with :func:`build_model`."""

# the model modules register their builders on import
from reuseprior.models import cifar_resnets, cnn, compact, mlp, toy  # noqa: F401
from reuseprior.models.efficientnet_v2 import (
    efficientnet_v2,
)
from reuseprior.models.registry import (
    available_models,
    build_model,
)
from reuseprior.models.resnet_keras import (
    resnet50_keras_v1,
)

__all__ = [
    "available_models",
    "build_model",
    "efficientnet_v2",
    "resnet50_keras_v1",
]
