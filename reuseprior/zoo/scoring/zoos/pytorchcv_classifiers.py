"""pytorchcv's ImageNet-1K models, each scored at its ``img_size``."""

from __future__ import annotations

from reuseprior.zoo.pytorchcv_zoo import build_pytorchcv, load_pytorchcv_zoo
from reuseprior.zoo.scoring.registry import Zoo, register_zoo
from reuseprior.zoo.scoring.zoos.imagenet_orders import by_params, img_size

PYTORCHCV = register_zoo(
    Zoo(
        "pytorchcv",
        "pytorchcv ImageNet-1K models, 100 - published top-1 error (package README / metainfo)",
        load_pytorchcv_zoo,
        build_pytorchcv,
        batch_size=16,
        image_size=img_size,
        num_classes=1000,
        order=by_params,
    )
)
