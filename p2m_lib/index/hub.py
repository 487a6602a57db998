"""Crawl the Hugging Face Hub's listing APIs (with card data) into catalog entries, for clusters.

Any object with huggingface_hub's `list_datasets` / `list_models` methods can stand in for
`HfApi`, which is how the tests replay recorded API responses without the network.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from p2m_lib.errors import P2MError
from p2m_lib.index.catalog import CatalogEntry

if TYPE_CHECKING:
    from huggingface_hub import HfApi
    from huggingface_hub.hf_api import DatasetInfo, ModelInfo

# The name `--catalog` takes to crawl the hub instead of reading a file.
HUB_CATALOG = "hf-hub"
_DATASET_FIELDS = ["description", "cardData", "downloads", "tags"]
_MODEL_FIELDS = ["cardData", "config", "downloads", "pipeline_tag", "safetensors", "tags", "usedStorage"]
# Only these tag families say what a dataset is about; the rest (region, format, size) is noise.
_USEFUL_TAG_PREFIXES = ("task_categories:", "task_ids:", "language:", "modality:")
_ENCODER_DECODER_TYPES = frozenset(
    {
        "t5",
        "mt5",
        "umt5",
        "longt5",
        "bart",
        "mbart",
        "pegasus",
        "marian",
        "prophetnet",
        "led",
        "m2m_100",
        "nllb-moe",
        "fsmt",
        "encoder-decoder",
    }
)
_DTYPE_BYTES = {
    "F64": 8,
    "I64": 8,
    "F32": 4,
    "I32": 4,
    "F16": 2,
    "BF16": 2,
    "I16": 2,
    "I8": 1,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
}


def crawl_datasets(api: HfApi | None = None, limit: int | None = None) -> Iterator[CatalogEntry]:
    """The hub's datasets, most downloaded first, as catalog entries.

    Raises:
        P2MError: The hub cannot be reached (offline, or an HTTP error).
    """
    listing = _api(api).list_datasets(expand=_DATASET_FIELDS, sort="downloads", limit=limit)
    yield from map(dataset_entry, _guarded(listing))


def crawl_models(api: HfApi | None = None, limit: int | None = None) -> Iterator[CatalogEntry]:
    """The hub's text-generation and text-to-text models, most downloaded first, as catalog entries.

    Raises:
        P2MError: The hub cannot be reached (offline, or an HTTP error).
    """
    for pipeline_tag in ("text-generation", "text2text-generation"):
        listing = _api(api).list_models(
            pipeline_tag=pipeline_tag, expand=_MODEL_FIELDS, sort="downloads", limit=limit
        )
        yield from map(model_entry, _guarded(listing))


def dataset_entry(info: DatasetInfo) -> CatalogEntry:
    """One dataset listing (with card data) as a catalog entry."""
    card = _card(info)
    return CatalogEntry(
        name=info.id,
        description=info.description or card.get("pretty_name") or "",
        tags=tuple(tag for tag in info.tags or () if tag.startswith(_USEFUL_TAG_PREFIXES)),
        downloads=info.downloads,
        columns=_columns(card.get("dataset_info")),
        configs=_configs(card),
    )


def model_entry(info: ModelInfo) -> CatalogEntry:
    """One model listing (with card data) as a catalog entry; the card's metadata is its description."""
    card = _card(info)
    return CatalogEntry(
        name=info.id,
        description=_model_description(info, card),
        tags=tuple(info.tags or ()),
        size_bytes=_weights_bytes(info),
        downloads=info.downloads,
        architecture=_architecture(info.config or {}),
    )


def _api(api: HfApi | None) -> Any:
    if api is not None:
        return api
    from huggingface_hub import HfApi

    return HfApi()


def _guarded(listing: Any) -> Iterator[Any]:
    """Iterate a paginated listing, turning network failures into one clear P2MError."""
    import httpx
    from huggingface_hub.errors import HfHubHTTPError

    try:
        yield from listing
    except (HfHubHTTPError, httpx.HTTPError, OSError) as error:
        raise P2MError(
            f"cannot list the Hugging Face Hub ({type(error).__name__}: {error}); "
            "check the network, or index a catalog file instead"
        ) from None


def _card(info: Any) -> dict[str, Any]:
    card = info.card_data
    return card.to_dict() if card is not None else {}


def _columns(dataset_info: Any) -> tuple[str, ...]:
    """Feature names of the card's `dataset_info` (one config's dict, or a list of them), deduplicated."""
    configs = dataset_info if isinstance(dataset_info, list) else [dataset_info]
    names = [
        feature["name"]
        for config in configs
        if isinstance(config, dict)
        for feature in config.get("features") or []
        if isinstance(feature, dict) and isinstance(feature.get("name"), str)
    ]
    return tuple(dict.fromkeys(names))


def _configs(card: dict[str, Any]) -> tuple[str, ...]:
    names = card.get("config_names") or [
        config.get("config_name") for config in card.get("configs") or [] if isinstance(config, dict)
    ]
    if isinstance(names, str):
        names = [names]
    return tuple(name for name in names if isinstance(name, str))


def _model_description(info: ModelInfo, card: dict[str, Any]) -> str:
    """Words about the model from its listing: pipeline, tags, training data, languages, base model."""
    fields = {
        "pipeline": info.pipeline_tag or card.get("pipeline_tag"),
        "tags": card.get("tags"),
        "datasets": card.get("datasets"),
        "language": card.get("language"),
        "base model": card.get("base_model"),
        "model": card.get("model_name"),
    }
    lines = [f"{label}: {_as_text(value)}" for label, value in fields.items() if value]
    return "\n".join(lines)


def _as_text(value: Any) -> str:
    return ", ".join(map(str, value)) if isinstance(value, list) else str(value)


def _weights_bytes(info: ModelInfo) -> int | None:
    """Bytes of the weights from the safetensors parameter counts per dtype, else the repo's storage."""
    if info.safetensors is not None:
        return sum(count * _DTYPE_BYTES.get(dtype, 4) for dtype, count in info.safetensors.parameters.items())
    return info.used_storage


def _architecture(config: dict[str, Any]) -> str | None:
    model_type = config.get("model_type")
    if model_type is None:
        return None
    return "encoder-decoder" if model_type in _ENCODER_DECODER_TYPES else "decoder-only"
