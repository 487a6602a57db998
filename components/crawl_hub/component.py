"""Crawl hub: a catalog of datasets or models from the Hugging Face Hub's listing API (clusters only)."""

from kfp.dsl import Dataset, Output

from components.images import p2m_component


@p2m_component()
def crawl_hub(kind: str, catalog: Output[Dataset], limit: int = 5000) -> None:
    """List the hub's most downloaded datasets or text-generation models, with their cards.

    Args:
        kind: "datasets" or "models".
        catalog: The entries as a JSONL catalog, the format `p2m index` reads; its metadata
            says how many.
        limit: How many entries to crawl (per pipeline tag for models).
    """
    from pathlib import Path

    from p2m_lib.errors import P2MError
    from p2m_lib.index import crawl_datasets, crawl_models, write_catalog_jsonl

    crawlers = {"datasets": crawl_datasets, "models": crawl_models}
    if kind not in crawlers:
        raise P2MError(f"kind must be one of {', '.join(crawlers)}, not {kind!r}")
    entries = list(crawlers[kind](limit=limit))
    write_catalog_jsonl(entries, Path(catalog.path))
    catalog.metadata["entries"] = len(entries)
