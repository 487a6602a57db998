"""Retrieval: the datasets and the student model that best fit a prompt's task."""

from p2m_lib.retrieve.datasets import retrieve_datasets
from p2m_lib.retrieve.hits import DatasetHit
from p2m_lib.retrieve.models import DEFAULT_MAX_SIZE_BYTES, ModelHit, retrieve_models

__all__ = ["DEFAULT_MAX_SIZE_BYTES", "DatasetHit", "ModelHit", "retrieve_datasets", "retrieve_models"]
