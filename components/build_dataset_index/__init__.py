"""The build_dataset_index component."""

from components.build_dataset_index.component import build_dataset_index

__all__ = ["build_dataset_index"]
