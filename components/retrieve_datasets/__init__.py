"""The retrieve_datasets component."""

from components.retrieve_datasets.component import retrieve_datasets

__all__ = ["retrieve_datasets"]
