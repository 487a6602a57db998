"""The build_model_index component."""

from components.build_model_index.component import build_model_index

__all__ = ["build_model_index"]
