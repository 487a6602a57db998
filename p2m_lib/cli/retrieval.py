"""`p2m index ...` and `p2m retrieve ...`: build the retrieval indices, then search them for a prompt."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from p2m_lib.cli.common import user_errors
from p2m_lib.errors import P2MError
from p2m_lib.index.encoder import EMBEDDED_ENCODER
from p2m_lib.progress import console

if TYPE_CHECKING:
    from p2m_lib.index import Catalog
    from p2m_lib.llm.base import Teacher

index_app = typer.Typer(help="Build retrieval indices from a catalog.", no_args_is_help=True)
retrieve_app = typer.Typer(help="Find datasets or a student model for a prompt.", no_args_is_help=True)

CatalogOption = Annotated[
    str,
    typer.Option(help="A .json mapping or .jsonl catalog file, or 'hf-hub' to crawl the Hugging Face Hub."),
]
OutOption = Annotated[Path, typer.Option("--out", "-o", help="Folder to write the index into.")]
LimitOption = Annotated[int | None, typer.Option(help="With --catalog hf-hub: how many entries to crawl.")]
IndexOption = Annotated[Path, typer.Option(help="An index folder built by `p2m index`.")]
PromptFile = Annotated[
    Path, typer.Option("--prompt-file", "-p", help="The prompt: its instruction first, then demonstrations.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
TeacherOption = Annotated[
    str,
    typer.Option(
        help="auto, local, openai, an embedded model, a folder or none; "
        "a capable one runs HyDE, a remote one also reranks."
    ),
]


@index_app.command("datasets")
@user_errors
def index_datasets(
    catalog: CatalogOption,
    out: OutOption,
    encoder: Annotated[str, typer.Option(help="Sentence encoder: the embedded MiniLM or a local model.")] = (
        EMBEDDED_ENCODER
    ),
    limit: LimitOption = None,
) -> None:
    """Embed and tokenize every dataset description (dense FAISS index + BM25)."""
    from p2m_lib.index import build_dataset_index

    manifest = build_dataset_index(_catalog(catalog, "datasets", limit), out, encoder)
    console.print(f"indexed {manifest.entries} datasets ({manifest.terms} terms, {encoder}) into {out}")


@index_app.command("models")
@user_errors
def index_models(catalog: CatalogOption, out: OutOption, limit: LimitOption = None) -> None:
    """Tokenize every model card for BM25, keeping sizes, downloads and architectures."""
    from p2m_lib.index import build_model_index

    manifest = build_model_index(_catalog(catalog, "models", limit), out)
    console.print(f"indexed {manifest.entries} models ({manifest.terms} terms) into {out}")


@retrieve_app.command("datasets")
@user_errors
def retrieve_datasets_command(
    index: IndexOption,
    prompt_file: PromptFile,
    top_k: Annotated[int, typer.Option(help="How many datasets to list.")] = 25,
    as_json: JsonOption = False,
    teacher: TeacherOption = "auto",
    encoder: Annotated[str | None, typer.Option(help="Refuse an index built with another encoder.")] = None,
) -> None:
    """List the datasets most likely to hold training data for the prompt's task, best first."""
    from p2m_lib.index import load_dataset_index
    from p2m_lib.retrieve import retrieve_datasets

    prompt = read_prompt_file(prompt_file)
    hits = retrieve_datasets(load_dataset_index(index, encoder), prompt, top_k, _teacher(teacher))
    _print([hit.to_dict() for hit in hits], as_json, ("name", "score", "description"))


@retrieve_app.command("models")
@user_errors
def retrieve_models_command(
    index: IndexOption,
    prompt_file: PromptFile,
    top_k: Annotated[int, typer.Option(help="How many ranked models to list.")] = 5,
    max_size_bytes: Annotated[int, typer.Option(help="Largest model weights allowed.")] = 3_000_000_000,
    as_json: JsonOption = False,
    teacher: TeacherOption = "auto",
) -> None:
    """List student models for the prompt's task: BM25 x popularity, within the size limit."""
    from p2m_lib.index import load_model_index
    from p2m_lib.retrieve import retrieve_models

    prompt = read_prompt_file(prompt_file)
    hits = retrieve_models(load_model_index(index), prompt, top_k, max_size_bytes, _teacher(teacher))
    _print([hit.to_dict() for hit in hits], as_json, ("name", "score", "size_bytes", "downloads"))


def read_prompt_file(path: Path) -> str:
    """The prompt's text.

    Raises:
        P2MError: The file is missing, unreadable or blank.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise P2MError(f"prompt file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as error:
        raise P2MError(f"cannot read prompt file {path}: {error}") from None
    if not text.strip():
        raise P2MError(f"prompt file {path} is empty; write the task's instruction and a few examples in it")
    return text


def _catalog(spec: str, kind: str, limit: int | None) -> Catalog:
    """Read a catalog file, or crawl the hub when `spec` is 'hf-hub'."""
    from p2m_lib.index import HUB_CATALOG, catalog_from_entries, crawl_datasets, crawl_models, read_catalog

    if spec != HUB_CATALOG:
        return read_catalog(Path(spec).resolve())
    crawl = crawl_datasets if kind == "datasets" else crawl_models
    return catalog_from_entries(crawl(limit=limit), HUB_CATALOG)


def _teacher(spec: str) -> Teacher | None:
    if spec == "none":
        return None
    from p2m_lib.llm import make_teacher

    return make_teacher(spec)


def _print(rows: list[dict[str, Any]], as_json: bool, columns: tuple[str, ...]) -> None:
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False))
        return
    from rich.table import Table

    table = Table(*columns)
    for row in rows:
        table.add_row(*(_cell(row[column]) for column in columns))
    console.print(table)


def _cell(value: Any) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= 100 else text[:99] + "…"
