"""The index pipeline: catalogs to the dataset index and the model index that prompt2model imports.

Each catalog is either `hf-hub` (crawl the Hugging Face Hub; needs the network, so on a cluster)
or the URI of a JSON/JSONL catalog file anywhere the pipeline can import from (s3://, gs://, or
a local path for the local runner).
"""

from collections.abc import Callable
from typing import Any

from kfp import dsl
from kfp.dsl import Dataset, graph_component

from components.build_dataset_index import build_dataset_index
from components.build_model_index import build_model_index
from components.crawl_hub import crawl_hub
from p2m_lib.index.hub import HUB_CATALOG
from pipelines.kubernetes import NETWORK_RETRIES, network_step

PIPELINE_NAME = "p2m-index"


def build_index_pipeline(retries: int = NETWORK_RETRIES) -> graph_component.GraphComponent:
    """The index pipeline; `retries` applies to the hub crawl."""

    def from_catalog(
        catalog_uri: str, kind: str, limit: int, build: Callable[[Any], dsl.PipelineTask]
    ) -> None:
        """Build one index from a crawl or from an imported catalog file, whichever `catalog_uri` names."""
        with dsl.If(catalog_uri == HUB_CATALOG, name=f"crawl-{kind}"):
            crawled = network_step(crawl_hub(kind=kind, limit=limit), retries)
            build(crawled.outputs["catalog"]).set_display_name(f"{kind} index")
        with dsl.Else(name=f"import-{kind}-catalog"):
            imported = dsl.importer(artifact_uri=catalog_uri, artifact_class=Dataset, reimport=False)
            build(imported.output).set_display_name(f"{kind} index")

    @dsl.pipeline(name=PIPELINE_NAME, description="Catalogs to the retrieval indices prompt2model imports.")
    def index(
        dataset_catalog: str = HUB_CATALOG,
        model_catalog: str = HUB_CATALOG,
        hub_limit: int = 5000,
        encoder: str = "",
    ) -> None:
        """Build the dataset index (dense + BM25) and the model index (BM25).

        Args:
            dataset_catalog: "hf-hub" to crawl the hub, or the URI of a JSON/JSONL dataset catalog.
            model_catalog: "hf-hub" to crawl the hub, or the URI of a JSONL model catalog.
            hub_limit: How many entries a hub crawl lists.
            encoder: Sentence encoder of the dense dataset index; empty for the embedded MiniLM.
        """
        from_catalog(
            dataset_catalog, "datasets", hub_limit, lambda c: build_dataset_index(catalog=c, encoder=encoder)
        )
        from_catalog(model_catalog, "models", hub_limit, lambda c: build_model_index(catalog=c))

    return index


index = build_index_pipeline()
