"""Model builders; create any of them by name with :func:`build_model`."""

from .registry import available_models, build_model, register_model

__all__ = ["available_models", "build_model", "register_model"]
