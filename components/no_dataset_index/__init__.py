"""The no_dataset_index component."""

from components.no_dataset_index.component import no_dataset_index

__all__ = ["no_dataset_index"]
