"""The model zoo: architectures, objectives, datasets and presets (`small` and `paper`)."""

from .registry import MODELS, get_model

__all__ = ["MODELS", "get_model"]
