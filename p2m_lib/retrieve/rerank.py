"""A capable teacher LLM reorders retrieved datasets by how well they fit the task."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from p2m_lib.errors import P2MError
from p2m_lib.retrieve.query import RetrievalQuery
from p2m_lib.types import SamplingParams

if TYPE_CHECKING:
    from p2m_lib.llm.base import Teacher
    from p2m_lib.retrieve.hits import DatasetHit

log = logging.getLogger(__name__)

_DESCRIPTION_CHARS = 300
_DEMONSTRATION_CHARS = 600
_NUMBER = re.compile(r"\d+")
RERANK_PARAMS = SamplingParams(n=1, temperature=0.0, max_tokens=64, instruction=True)
_PROMPT = """You are choosing training data for a machine-learning task.

Task: {instruction}
{demonstrations}
Candidate datasets:
{candidates}

Which candidates hold examples that could train a model for this task? Answer with their numbers, \
most useful first, separated by commas (for example: 3, 1, 7), or "none".
Answer:"""


def rerank(teacher: Teacher, query: RetrievalQuery, hits: Sequence[DatasetHit]) -> list[DatasetHit]:
    """The hits the teacher picks, in its order, then the others in their original order.

    A reply without usable numbers, or a teacher that fails, leaves the order unchanged.
    """
    if not hits:
        return []
    try:
        reply = teacher.complete([rerank_prompt(query, hits)], RERANK_PARAMS)[0].texts[0]
    except P2MError as error:
        log.warning("reranking skipped: the teacher failed (%s)", error)
        return list(hits)
    return reordered(hits, reply)


def reordered(hits: Sequence[DatasetHit], reply: str) -> list[DatasetHit]:
    """The hits that the teacher's reply picks, in its order, then the others in their original order."""
    picked = picked_positions(reply, len(hits))
    rest = [position for position in range(len(hits)) if position not in picked]
    return [hits[position] for position in [*picked, *rest]]


def rerank_prompt(query: RetrievalQuery, hits: Sequence[DatasetHit]) -> str:
    """The numbered list of candidates and the question put to the teacher."""
    candidates = "\n".join(
        f"[{number}] {hit.name}: {' '.join(hit.description.split())[:_DESCRIPTION_CHARS]}"
        for number, hit in enumerate(hits, 1)
    )
    demonstrations = query.demonstrations[:_DEMONSTRATION_CHARS]
    return _PROMPT.format(
        instruction=query.instruction,
        demonstrations=f"Examples of the task:\n{demonstrations}\n" if demonstrations else "",
        candidates=candidates,
    )


def picked_positions(reply: str, count: int) -> list[int]:
    """Zero-based positions of the distinct candidate numbers in the reply, in the order given."""
    numbers = (int(match) for match in _NUMBER.findall(reply))
    return list(dict.fromkeys(number - 1 for number in numbers if 1 <= number <= count))
