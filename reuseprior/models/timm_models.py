"""timm's architectures by name, built without weights: ``build_model("timm:NAME")``.

Policy: a timm model is always built with ``pretrained=False`` and the Hugging Face hub put offline
(``HF_HUB_OFFLINE=1``), so nothing is downloaded; a name the installed timm does not build is a
``ValueError`` naming the closest ones, and a constructor that fails without weights is an
:class:`~reuseprior.core.errors.ArchitectureRefusedError` carrying its own error on one line.
"""

from __future__ import annotations

import os

from torch import nn

from reuseprior.core.errors import ArchitectureRefusedError
from reuseprior.core.factories import TIMM_PREFIX, unknown_timm_message

__all__ = ["TIMM_PREFIX", "build_timm", "timm_names"]


def timm_names() -> list[str]:
    """The architectures the installed timm builds (``timm.list_models()``; imports timm and torch)."""
    import timm  # noqa: PLC0415 (timm: imported only where a timm model is named)

    return list(timm.list_models())


def build_timm(name: str, image_size: int | None = None, num_classes: int = 1000) -> nn.Module:
    """``name`` (an architecture, or ``architecture.tag`` for that weights' configuration) with random
    initialisation. ``image_size`` is given to a constructor that takes ``img_size`` (position
    embeddings, attention windows); the others take any size as built."""
    import timm  # noqa: PLC0415 (timm: imported only where a timm model is named)

    names = timm_names()
    if name.split(".", 1)[0] not in names:
        raise ValueError(unknown_timm_message(name, names))
    os.environ["HF_HUB_OFFLINE"] = "1"
    kwargs: dict[str, object] = {"pretrained": False, "num_classes": num_classes}
    try:
        if image_size is not None:
            try:
                return timm.create_model(name, img_size=image_size, **kwargs)
            except TypeError as err:
                if "img_size" not in str(err):
                    raise
        return timm.create_model(name, **kwargs)
    except Exception as err:  # noqa: BLE001 - any constructor failure refuses this architecture alone
        first_line = (str(err).splitlines() or [""])[0][:200]
        raise ArchitectureRefusedError(
            f"timm cannot build {name} without weights: {type(err).__name__}: {first_line}"
        ) from err
