"""The retrieve_model component."""

from components.retrieve_model.component import retrieve_model

__all__ = ["retrieve_model"]
