"""Generate: training examples from the teacher, with the paper's four strategies."""

from p2m_lib.generate.generator import DatasetGenerator, GenerationResult
from p2m_lib.generate.journal import EXAMPLES_FILE, RAW_FILE
from p2m_lib.generate.strategies import annealed_temperature, sample_demonstrations, self_consistent_output

__all__ = [
    "EXAMPLES_FILE",
    "RAW_FILE",
    "DatasetGenerator",
    "GenerationResult",
    "annealed_temperature",
    "sample_demonstrations",
    "self_consistent_output",
]
