"""Indices to retrieve from: catalogs read or crawled, a dense + BM25 dataset index, a BM25 model index."""

from p2m_lib.index.catalog import (
    Catalog,
    CatalogEntry,
    catalog_from_entries,
    read_catalog,
    write_catalog_jsonl,
)
from p2m_lib.index.dataset_index import DatasetIndex, build_dataset_index, load_dataset_index
from p2m_lib.index.encoder import EMBEDDED_ENCODER
from p2m_lib.index.hub import HUB_CATALOG, crawl_datasets, crawl_models
from p2m_lib.index.manifest import FORMAT_VERSION, Manifest
from p2m_lib.index.model_index import ModelIndex, build_model_index, load_model_index

__all__ = [
    "EMBEDDED_ENCODER",
    "FORMAT_VERSION",
    "HUB_CATALOG",
    "Catalog",
    "CatalogEntry",
    "DatasetIndex",
    "Manifest",
    "ModelIndex",
    "build_dataset_index",
    "build_model_index",
    "catalog_from_entries",
    "crawl_datasets",
    "crawl_models",
    "load_dataset_index",
    "load_model_index",
    "read_catalog",
    "write_catalog_jsonl",
]
